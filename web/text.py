"""Small text helpers of the templates: dates in the reader's language, fixed labels.

Both run once per post on every timeline page, so they avoid per-call work: month names
are read from Babel's locale data once per language, and the labels of a post's buttons
are translated once per language (:func:`status_labels`), not once per post.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

from babel import Locale
from babel.support import NullTranslations
from markupsafe import Markup

__all__ = ["DateWords", "format_when", "local_links", "status_labels", "visibility_label"]


class DateWords:
    """A language's abbreviated month names (from Babel's CLDR data)."""

    def __init__(self, locale: Locale) -> None:
        months = locale.months["format"]["abbreviated"]
        self.months = {n: str(months[n]).rstrip(".") for n in range(1, 13)}
        self.day_first = locale.language != "en"


def format_when(
    value: str | datetime | None, *, words: DateWords, now: datetime | None = None
) -> str:
    """A post's time as people say it: the time today, else the day and month (and year)."""
    if value is None:
        return ""
    when = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    now = now or datetime.now(UTC)
    if when.date() == now.date():
        return f"{when.hour:02d}:{when.minute:02d}"
    month = words.months[when.month]
    day = f"{when.day} {month}" if words.day_first else f"{month} {when.day}"
    return day if when.year == now.year else f"{day} {when.year}"


def visibility_label(translations: NullTranslations, visibility: str) -> str:
    """The visibility of a post in words."""
    return status_labels(translations).get(f"visibility_{visibility}", visibility)


def status_labels(translations: NullTranslations) -> dict[str, str]:
    """The words on a post (buttons, visibility), translated once per language."""
    _ = translations.gettext
    return {
        "reply": _("Reply"),
        "like": _("Like"),
        "unlike": _("Unlike"),
        "boost": _("Boost"),
        "unboost": _("Unboost"),
        "bookmark": _("Bookmark"),
        "unbookmark": _("Remove bookmark"),
        "edit": _("Edit"),
        "delete": _("Delete"),
        "delete_confirm": _("Delete this post?"),
        "edited": _("edited"),
        "filtered": _("Filtered"),
        "visibility_public": _("Public"),
        "visibility_local": _("This department only"),
        "visibility_unlisted": _("Unlisted"),
        "visibility_private": _("Followers only"),
        "visibility_direct": _("Mentioned people only"),
    }


_ANCHOR = re.compile(r"<a\s[^>]*>")
_TAG_HREF = re.compile(r'href="(?:https?://[^"/]+)?/tags/([^"/?#]+)"')


def _hashtag_anchor(match: re.Match[str]) -> str:
    anchor = match.group(0)
    if "hashtag" not in anchor and 'rel="tag"' not in anchor:
        return anchor  # an ordinary link that happens to have /tags/ in it
    return _TAG_HREF.sub(lambda m: f'href="/tags/{m.group(1)}"', anchor)


def local_links(post: dict[str, Any]) -> Markup:
    """A post's (already sanitised) HTML with mentions and hashtags pointing at these pages.

    A mention links to the person's profile here (``/@user@host``) instead of their node's
    actor URL, a hashtag to ``/tags/name`` here, so reading stays on one's own node.
    """
    content = str(post.get("content") or "")
    for mention in post.get("mentions") or ():
        url = html.escape(str(mention.get("url") or ""), quote=True)
        if url:
            content = content.replace(f'href="{url}"', f'href="/@{html.escape(mention["acct"])}"')
    if "/tags/" in content:
        content = _ANCHOR.sub(_hashtag_anchor, content)
    return Markup(content)  # noqa: S704 - sanitised at ingest or rendered by node.services.text
