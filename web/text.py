"""Small text helpers of the templates: dates in the reader's language, visibility names."""

from __future__ import annotations

from datetime import UTC, datetime

from babel.dates import format_date, format_time
from babel.support import NullTranslations

__all__ = ["format_when", "visibility_label"]


def format_when(value: str | datetime | None, *, locale: str, now: datetime | None = None) -> str:
    """A post's time as people say it: the time today, else the date (and year if not this one)."""
    if value is None:
        return ""
    when = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    now = now or datetime.now(UTC)
    if when.date() == now.date():
        return format_time(when, "short", locale=locale)
    if when.year == now.year:
        return format_date(when, "d MMM", locale=locale)
    return format_date(when, "medium", locale=locale)


def visibility_label(translations: NullTranslations, visibility: str) -> str:
    """The visibility of a post in words."""
    _ = translations.gettext
    labels = {
        "public": _("Public"),
        "local": _("This department only"),
        "unlisted": _("Unlisted"),
        "private": _("Followers only"),
        "direct": _("Mentioned people only"),
    }
    return labels.get(visibility, visibility)
