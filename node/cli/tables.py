"""Plain-text tables for the admin's terminal: left-aligned columns, one row a line."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

__all__ = ["age", "render_table", "timestamp"]


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """*rows* under *headers*, each column as wide as its widest cell; the last is not padded."""
    widths = [max(len(str(r[i])) for r in (headers, *rows)) for i in range(len(headers))]
    lines = []
    for row in (headers, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def timestamp(when: datetime | None) -> str:
    """``2026-03-31 14:05:09Z``, or ``-``."""
    if when is None:
        return "-"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def age(when: datetime | None, *, now: datetime | None = None) -> str:
    """How long ago *when* was, coarsely (``45s``, ``12m``, ``3h``, ``2d``), or ``-``."""
    if when is None:
        return "-"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
