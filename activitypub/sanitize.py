"""Sanitise remote HTML to Mastodon's ≥4.2 subset (PROTOCOL.md A7; SECURITY.md row 15).

Remote ``content``, ``summary``, profile ``summary`` and field values are HTML from
strangers.  :class:`HtmlSanitizer` keeps only the elements, attributes, class names and
link schemes Mastodon keeps, turns headings into ``<p><strong>`` as Mastodon does, and
rewrites every link to open in a new tab without referrer or ranking credit.

One ``bleach.sanitizer.Cleaner`` is built per :class:`HtmlSanitizer` and reused:
building one costs far more than cleaning a post (PERFORMANCE.md).  A Cleaner is not
thread-safe (its parser holds state), so give each worker thread its own sanitizer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser
from typing import Any

from bleach.html5lib_shim import Filter
from bleach.sanitizer import Cleaner

__all__ = ["ALLOWED_PROTOCOLS", "ALLOWED_TAGS", "HtmlSanitizer", "clean_text", "html_to_plain"]

_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
ALLOWED_TAGS = frozenset(
    {"p", "br", "span", "a", "del", "pre", "code", "em", "strong", "b", "i", "u"}
    | {"ul", "ol", "li", "blockquote"}
)
_ATTRIBUTES = {"a": ["href", "rel", "class"], "span": ["class"], "ol": ["start", "reversed"]}
_ATTRIBUTES["li"] = ["value"]
#: Mastodon's ``LINK_PROTOCOLS`` (A7); relative links are dropped as well (see below).
ALLOWED_PROTOCOLS = frozenset(
    {"http", "https", "dat", "dweb", "ipfs", "ipns", "ssb", "gopher", "xmpp", "magnet", "gemini"}
)
_KEPT_CLASS = re.compile(r"^(?:(?:h|p|u|dt|e)-[\w-]+|mention|hashtag|ellipsis|invisible)$")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_INTEGER = re.compile(r"^-?\d{1,9}$")
_LINK_REL = "nofollow noopener noreferrer"


class _MastodonFilter(Filter):  # type: ignore[misc]
    """Runs after bleach's sanitizer: headings, class allow-list, link rewriting."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for token in super().__iter__():
            kind, name = token.get("type"), token.get("name")
            if name in _HEADINGS and kind in {"StartTag", "EndTag"}:
                # Mastodon renders remote headings as bold paragraphs, not page headings.
                tags = ("p", "strong") if kind == "StartTag" else ("strong", "p")
                for tag in tags:
                    yield {"type": kind, "name": tag, "data": {}}
                continue
            if kind in {"StartTag", "EmptyTag"}:
                token = {**token, "data": _attributes(name, token.get("data") or {})}
            yield token


def _attributes(tag: str, data: Mapping[tuple[str | None, str], str]) -> dict[Any, str]:
    kept: dict[Any, str] = {}
    for key, value in data.items():
        attr = key[1]
        if attr == "class":
            classes = [c for c in value.split() if _KEPT_CLASS.match(c)]
            if classes:
                kept[key] = " ".join(classes)
        elif attr in {"start", "value"}:
            if _INTEGER.match(value.strip()):
                kept[key] = value.strip()
        elif attr == "href":
            # bleach lets scheme-less (relative) links through; on remote HTML they would
            # point into *our* site, so only absolute links with an allowed scheme remain.
            scheme = _SCHEME.match(value.strip())
            if scheme and scheme.group(1).lower() in ALLOWED_PROTOCOLS:
                kept[key] = value
        elif attr != "rel":
            kept[key] = value
    if tag == "a":
        kept[(None, "rel")] = _LINK_REL
        kept[(None, "target")] = "_blank"
    return kept


class HtmlSanitizer:
    """Cleans remote HTML to the A7 subset with one reused bleach ``Cleaner``."""

    def __init__(self) -> None:
        self._cleaner = Cleaner(
            tags=ALLOWED_TAGS | _HEADINGS,
            attributes=_ATTRIBUTES,
            protocols=ALLOWED_PROTOCOLS,
            strip=True,
            strip_comments=True,
            filters=[_MastodonFilter],
        )

    def clean(self, html: str) -> str:
        """Sanitised HTML: safe to insert into a page as is."""
        result: str = self._cleaner.clean(html)
        return result

    def clean_text(self, text: str) -> str:
        """Plain text with every tag removed (names, alt text); see :func:`clean_text`."""
        return clean_text(text)

    def html_to_plain(self, html: str) -> str:
        """Readable plain text (search, notifications); see :func:`html_to_plain`."""
        return html_to_plain(html)


_BLOCKS = frozenset({"p", "div", "blockquote", "pre", "ul", "ol", "li", "tr"} | _HEADINGS)
_SKIPPED = frozenset({"script", "style", "template", "title"})
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class _TextExtractor(HTMLParser):
    def __init__(self, *, blocks: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._blocks = blocks
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip_depth += 1
        elif self._blocks and tag == "br":
            self.parts.append("\n")
        elif self._blocks and tag in _BLOCKS:
            self.parts.append("\n\n" if tag != "li" else "\n- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif self._blocks and tag in _BLOCKS and tag != "li":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def _extract(html: str, *, blocks: bool) -> str:
    parser = _TextExtractor(blocks=blocks)
    parser.feed(html)
    parser.close()
    return _CONTROLS.sub("", "".join(parser.parts))


def clean_text(text: str) -> str:
    """Plain text from a name, alt text or shortcode: tags removed, entities decoded,
    control characters dropped, whitespace collapsed.  Escape it when rendering."""
    if "<" not in text and "&" not in text:  # no tag, no entity: the parser would change nothing
        return " ".join(_CONTROLS.sub("", text).split())
    return " ".join(_extract(text, blocks=False).split())


def html_to_plain(html: str) -> str:
    """Readable text from post HTML: paragraphs and ``<br>`` become line breaks."""
    text = _extract(html, blocks=True)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
