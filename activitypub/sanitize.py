"""Sanitise remote HTML to Mastodon's ≥4.2 subset (PROTOCOL.md A7; SECURITY.md row 15).

Remote ``content``, ``summary``, profile ``summary`` and field values are HTML from
strangers.  :class:`HtmlSanitizer` keeps only the elements, attributes, class names and
link schemes Mastodon keeps, turns headings into ``<p><strong>`` as Mastodon does, and
rewrites every link to open in a new tab without referrer or ranking credit.

One ``bleach.sanitizer.Cleaner`` is built per :class:`HtmlSanitizer` and reused:
building one costs far more than cleaning a post (PERFORMANCE.md).  A Cleaner is not
thread-safe (its parser holds state), so give each worker thread its own sanitizer.

bleach parses with html5lib, in pure Python: ~0.8 ms for a 600-character post, most of
what applying an incoming post costs.  Posts from Mastodon, GoToSocial and Kantine are
almost always plain, well-nested HTML of the allowed tags, which a browser and html5lib
read exactly as written.  :func:`_clean_plain` recognises that shape with a strict
tokeniser (~10× faster) and writes the same output bleach would; anything else —
another tag, a comment, an unusual entity, a misnested or unclosed element, a control
character, a link it cannot judge — goes to bleach.  The fast path never has to decide
what unusual markup means: it only accepts input whose meaning is unambiguous, and it
re-serialises from its own tokens with every text and attribute escaped.
``tests/activitypub/test_sanitize.py`` checks it against bleach on the interop fixtures
and on generated HTML.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from html import unescape
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


# -- the fast path ---------------------------------------------------------------------

#: One token of plain HTML: text, one of five entities, or a lower-case tag whose
#: attributes are all ``name="value"`` separated by ASCII whitespace.
_TOKEN = re.compile(
    r"(?P<text>[^<&]+)"
    r"|(?P<entity>&(?:amp|lt|gt|quot|\#39|nbsp);)"
    r"|<(?P<end>/)?(?P<tag>[a-z][a-z0-9]*)"
    r'(?P<attrs>(?:[ \t\n]+[a-z][a-z0-9-]*="[^"<>]*")*)[ \t\n]*(?P<void>/)?>'
)
_ATTR = re.compile(r'[ \t\n]+([a-z][a-z0-9-]*)="([^"<>]*)"')
#: An ``&`` in an attribute value that is not one of the entities :func:`html.unescape`
#: and html5lib decode alike.
_ODD_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt|quot|#39);)")
#: Characters html5lib or bleach rewrite (CR, NUL, form feed and other controls), and
#: C1 controls and lone surrogates, which it keeps but nobody should send: bleach decides.
_ODD_CHARACTER = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
#: An absolute link whose scheme bleach and :func:`_attributes` both see as written.
_PLAIN_LINK = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):[^\s`\x00-\x20\x7f-\xa0]*")
_PHRASING = frozenset({"span", "a", "del", "code", "em", "strong", "b", "i", "u", "br"})
#: Which children each element may have on the fast path; None is the fragment itself.
#: These are the nestings html5lib builds exactly as written (no implied end tags, no
#: adoption agency, no leading newline dropped except as checked for ``pre``).
_ANY_BUT_ITEM = (ALLOWED_TAGS | _HEADINGS) - {"li"}
_CHILDREN: dict[str | None, frozenset[str]] = {
    None: _ANY_BUT_ITEM,
    "blockquote": _ANY_BUT_ITEM,
    "ul": frozenset({"li"}),
    "ol": frozenset({"li"}),
    "li": _ANY_BUT_ITEM,
}
_MAX_DEPTH = 32


def _plain_start_tag(tag: str, attrs: str) -> str | None:
    """The cleaned start tag, or None when bleach must judge its attributes.

    bleach's tokeniser leaves entities in attribute values as written (its serializer
    only escapes a bare ``&``), and the values here hold no bare ``&``, ``"``, ``<`` or
    ``>``, so a kept value is written back exactly as it came."""
    allowed = _ATTRIBUTES.get(tag, ())
    data: dict[tuple[str | None, str], str] = {}
    for name, value in _ATTR.findall(attrs):
        if (None, name) in data or _ODD_AMPERSAND.search(value):
            return None  # html5lib keeps the first of two; odd entities decode variously
        if name == "href" and name in allowed:
            link = _PLAIN_LINK.fullmatch(unescape(value) if "&" in value else value)
            if not link or link.group(1).lower() not in ALLOWED_PROTOCOLS:
                return None  # relative, dangerous or odd: bleach and _attributes decide
        data[(None, name)] = value
    kept = _attributes(tag, {k: v for k, v in data.items() if k[1] in allowed})
    if not kept:
        return f"<{tag}>"
    return f"<{tag} " + " ".join(f'{key[1]}="{value}"' for key, value in kept.items()) + ">"


def _clean_plain(source: str) -> str | None:
    """What bleach would make of *source*, if it is plain well-nested HTML; else None."""
    if _ODD_CHARACTER.search(source):
        return None
    out: list[str] = []
    stack: list[str] = []
    position = 0
    after_pre = False
    for token in _TOKEN.finditer(source):
        if token.start() != position:
            return None  # a '<' or '&' that is not part of a plain token
        position = token.end()
        text, entity, end, tag, attrs, void = token.groups()
        was_pre, after_pre = after_pre, False  # set again below by a <pre> start tag
        if text is not None:
            if was_pre and text[0] == "\n":
                return None  # html5lib drops a newline right after <pre>
            out.append(text.replace(">", "&gt;"))
        elif entity is not None:
            out.append(entity)
        elif end:
            if not stack or stack.pop() != tag or attrs:
                return None
            out.append("</strong></p>" if tag in _HEADINGS else f"</{tag}>")
        else:
            if tag not in _CHILDREN.get(stack[-1] if stack else None, _PHRASING):
                return None
            if tag == "a" and "a" in stack:
                return None  # a link in a link: html5lib's adoption agency rebuilds it
            if tag in _HEADINGS:
                out.append("<p><strong>")
            elif (start := _plain_start_tag(tag, attrs)) is not None:
                out.append(start)
            else:
                return None
            if tag != "br":
                if void or len(stack) >= _MAX_DEPTH:
                    return None  # <p/> is an open <p> to html5lib; deep nesting: bleach
                stack.append(tag)
            after_pre = tag == "pre"
    if position != len(source) or stack:
        return None
    return "".join(out)


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
        plain = _clean_plain(html)
        if plain is not None:
            return plain
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
