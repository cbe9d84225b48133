"""Plain text as people type it → the HTML a post carries (links, mentions, hashtags)."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from node.db.models import Account

__all__ = ["MentionLookup", "RenderedText", "extract_handles", "normalise_tag", "render_text"]

# Each pattern is a plain alternation of character classes: linear time on any input (SECURITY.md row 18).
_TOKEN = re.compile(
    r"(?P<url>https?://[^\s<>\"']{1,2000})"
    r"|(?<![\w/@])@(?P<user>[a-zA-Z0-9_]{1,64})(?:@(?P<host>[a-zA-Z0-9.\-:]{1,253}[a-zA-Z0-9]))?"
    r"|(?<![\w/&#])#(?P<tag>[^\W\d_][\w]{0,99}|\d+[^\W\d][\w]{0,98})"
)

MentionLookup = Callable[[str, str | None], Awaitable[Account | None]]


@dataclass(frozen=True)
class RenderedText:
    """The HTML of a post and what it refers to."""

    html: str
    mentions: tuple[Account, ...]
    hashtags: tuple[str, ...]


def normalise_tag(name: str) -> str:
    """Lower case and ASCII-folded, as hashtags are matched (PROTOCOL.md A20)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return (folded or name).lower()


def extract_handles(text: str) -> list[tuple[str, str | None]]:
    """The ``(user, host)`` pairs mentioned in *text* (host None for a local ``@user``)."""
    return [(m["user"], m["host"]) for m in _TOKEN.finditer(text) if m["user"] is not None]


async def render_text(
    text: str, *, lookup: MentionLookup, tag_url: Callable[[str], str]
) -> RenderedText:
    """Escape *text*, link URLs, resolvable mentions and hashtags, and keep paragraphs."""
    mentions: dict[int, Account] = {}
    hashtags: dict[str, None] = {}
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        out: list[str] = []
        pos = 0
        for match in _TOKEN.finditer(block):
            out.append(html.escape(block[pos : match.start()]))
            pos = match.end()
            if match["url"]:
                url = match["url"].rstrip(".,;:!?)")
                pos -= len(match["url"]) - len(url)
                out.append(
                    f'<a href="{html.escape(url)}" rel="nofollow noopener noreferrer" '
                    f'target="_blank">{html.escape(url)}</a>'
                )
            elif match["user"]:
                account = await lookup(match["user"], match["host"])
                if account is None:
                    out.append(html.escape(match.group(0)))
                    continue
                mentions[account.id] = account
                href = html.escape(account.url or account.uri)
                out.append(
                    f'<span class="h-card"><a href="{href}" class="u-url mention">'
                    f"@<span>{html.escape(account.username)}</span></a></span>"
                )
            else:
                tag = normalise_tag(match["tag"])
                hashtags[tag] = None
                out.append(
                    f'<a href="{html.escape(tag_url(tag))}" class="mention hashtag" rel="tag">'
                    f"#<span>{html.escape(match['tag'])}</span></a>"
                )
        out.append(html.escape(block[pos:]))
        paragraphs.append("<p>" + "".join(out).replace("\n", "<br>") + "</p>")
    return RenderedText("".join(paragraphs), tuple(mentions.values()), tuple(hashtags))
