"""The org chart as SVG: managers above their reports (``org:reportsTo``), drawn as a tree.

People whose manager is not among those drawn are the roots.  Each box links to the
person's page.  A cycle in ``reportsTo`` (it happens in imported data) is cut where it
closes, so every person is drawn once.  All text is XML-escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from node.directory.graph import Entry
from node.directory.index import fold

__all__ = ["MAX_PEOPLE", "org_chart_svg"]

#: More people than this are not drawn (the chart would be unreadable anyway).
MAX_PEOPLE = 1500
_BOX_W, _BOX_H, _GAP_X, _ROW_H, _PAD = 190, 58, 16, 96, 12


@dataclass
class _Node:
    entry: Entry
    children: list[_Node] = field(default_factory=list)
    x: float = 0.0
    depth: int = 0
    width: int = 1


def _layout(node: _Node, depth: int, left: float) -> float:
    """Place *node*'s subtree starting at *left*; returns the next free x."""
    node.depth = depth
    if not node.children:
        node.x = left
        return left + _BOX_W + _GAP_X
    x = left
    for child in node.children:
        x = _layout(child, depth + 1, x)
    first, last = node.children[0].x, node.children[-1].x
    node.x = (first + last) / 2
    return x


def _trees(entries: Sequence[Entry]) -> list[_Node]:
    nodes = {e.profile.id: _Node(e) for e in entries}
    roots: list[_Node] = []
    for node in sorted(nodes.values(), key=lambda n: fold(n.entry.profile.name)):
        manager = node.entry.profile.reports_to
        # Attach under the manager unless that would close a loop.
        chain: set[str] = {node.entry.profile.id}
        cursor = manager
        looped = False
        while cursor is not None and cursor in nodes:
            if cursor in chain or len(chain) > 100:
                looped = True
                break
            chain.add(cursor)
            cursor = nodes[cursor].entry.profile.reports_to
        if manager in nodes and not looped and manager != node.entry.profile.id:
            nodes[manager].children.append(node)
        else:
            roots.append(node)
    return roots


def org_chart_svg(entries: Sequence[Entry], *, link: Callable[[Entry], str], title: str) -> str:
    """An SVG document of *entries* as trees; *link* gives each person's page URL."""
    entries = list(entries)[:MAX_PEOPLE]
    roots = _trees(entries)
    x = float(_PAD)
    for root in roots:
        x = _layout(root, 0, x)
    flat: list[_Node] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        flat.append(node)
        stack.extend(node.children)
    depth = max((n.depth for n in flat), default=0)
    width = max(x + _PAD, 2 * _PAD + _BOX_W)
    height = _PAD * 2 + (depth + 1) * _ROW_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        # A group, not role="img": an image's children are presentational, which would
        # hide the links to each person from screen readers (axe: nested-interactive).
        f'role="group" aria-label={quoteattr(title)} class="orgchart">',
        f"<title>{escape(title)}</title>",
        "<style>rect{fill:#fff;stroke:#555;rx:6}text{font:13px sans-serif;fill:#111}"
        ".job{font-size:11px;fill:#555}path{fill:none;stroke:#999}</style>",
    ]
    for node in flat:
        for child in node.children:
            x1, y1 = node.x + _BOX_W / 2, _PAD + node.depth * _ROW_H + _BOX_H
            x2, y2 = child.x + _BOX_W / 2, _PAD + child.depth * _ROW_H
            mid = (y1 + y2) / 2
            parts.append(f'<path d="M{x1:.0f},{y1:.0f} V{mid:.0f} H{x2:.0f} V{y2:.0f}"/>')
    for node in flat:
        profile = node.entry.profile
        top = _PAD + node.depth * _ROW_H
        job = profile.job_title or ""
        parts.append(
            f"<a href={quoteattr(link(node.entry))}>"
            f'<rect x="{node.x:.0f}" y="{top}" width="{_BOX_W}" height="{_BOX_H}"/>'
            f'<text x="{node.x + 10:.0f}" y="{top + 24}">{escape(profile.name[:26])}</text>'
            f'<text class="job" x="{node.x + 10:.0f}" y="{top + 42}">{escape(job[:30])}</text>'
            "</a>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
