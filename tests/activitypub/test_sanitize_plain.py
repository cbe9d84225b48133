"""The sanitiser's fast path for plain HTML writes exactly what bleach writes (A7).

``HtmlSanitizer.clean`` first tries ``_clean_plain``: a strict tokeniser that accepts
only well-nested HTML of the allowed tags and hands everything else to bleach.  These
tests hold it to bleach's output: on every HTML field of the interop fixtures, on the
XSS corpus, on hand-picked edge cases, and on generated HTML that mixes plain markup
with every trap the fast path must send on (other tags, entities, quoting, misnesting,
control characters, odd links).  They also check that it really takes the common case —
a fast path that silently never runs would pass every equality test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bleach.sanitizer import Cleaner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activitypub.sanitize import HtmlSanitizer, _clean_plain
from bench.peers import RemoteActor, create_note
from tests.activitypub.test_sanitize import XSS_PAYLOADS, assert_safe

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
_HTML_KEYS = {"content", "summary", "name", "value", "contentMap", "summaryMap"}


def _bleach() -> Cleaner:
    cleaner: Cleaner = HtmlSanitizer()._cleaner
    return cleaner


BLEACH = _bleach()


def _html_fields(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _HTML_KEYS and isinstance(value, str):
                yield value
            elif key in _HTML_KEYS and isinstance(value, dict):
                yield from (v for v in value.values() if isinstance(v, str))
            else:
                yield from _html_fields(value)
    elif isinstance(node, list):
        for item in node:
            yield from _html_fields(item)


def _fixture_html() -> list[tuple[str, str]]:
    found = []
    for path in sorted(FIXTURES.rglob("*.json")):
        for html in _html_fields(json.loads(path.read_text())):
            found.append((f"{path.parent.name}/{path.name}", html))
    return found


def assert_same_as_bleach(source: str) -> str | None:
    fast = _clean_plain(source)
    if fast is not None:
        assert fast == BLEACH.clean(source), source
        assert_safe(fast)
    return fast


@pytest.mark.parametrize(("fixture", "html"), _fixture_html())
def test_fixture_html_cleans_the_same(fixture: str, html: str) -> None:
    assert_same_as_bleach(html)


def test_fast_path_takes_what_mastodon_and_gotosocial_send() -> None:
    taken = {
        fixture
        for fixture, html in _fixture_html()
        if "<" in html and assert_same_as_bleach(html) is not None
    }
    assert {
        "mastodon/create_note_cw_mention_hashtag.json",
        "mastodon/create_note_reply.json",
        "gotosocial/note_mention.json",
        "gotosocial/note_tags.json",
    } <= taken


def test_fast_path_takes_the_benchmark_post() -> None:
    actor = RemoteActor("https://peer.example", "user0", "", "")
    note = json.loads(
        create_note(actor, 7, mention_uri="https://node.example/users/bob", mention_name="bob")
    )
    content = note["object"]["content"]
    assert assert_same_as_bleach(content) is not None
    assert HtmlSanitizer().clean(content) == BLEACH.clean(content)


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_corpus_goes_to_bleach_or_cleans_the_same(payload: str) -> None:
    assert_same_as_bleach(payload)


PLAIN = [
    "",
    "just text, with > and \" and ' and é and \xa0",
    "<p>a &amp; b &lt; c &gt; d &quot; e &#39; f &nbsp;</p>",
    '<p><span class="h-card" translate="no"><a href="https://x.example/@bob" '
    'class="u-url mention">@<span>bob</span></a></span> hi</p>',
    '<a href="https://x.example/?a=1&amp;b=2" rel="tag" target="_self" title="t">y</a>',
    '<span class="h-card invisible foo">x</span><span class="">y</span>',
    '<ol start=" 3 " reversed="reversed"><li value="2">x</li></ol>',
    "<ul>\n<li>x</li>\n<li><p>a</p><ul><li>b</li></ul></li>\n</ul>",
    "<pre>x\n<code>y</code></pre>",
    '<h2 class="x">title <em>e</em></h2><p>a<br>b<br/>c<br />d</p>',
    "<blockquote><p>q</p><pre>p</pre></blockquote>",
    "<b><b><b><b>x</b></b></b></b>",
    '<a href="HTTPS://x.example/é?q=ü&#39;">y</a>',
    '<a href="xmpp:room@conference.example">chat</a>',
]

TO_BLEACH = [
    "<p>a<p>b",  # implied end tag
    "<p>open",  # unclosed
    "</p>",  # stray end tag
    "<b><i>x</b></i>",  # misnested formatting
    "<a href='https://x.example/'>single quotes</a>",
    "<a href=https://x.example/>unquoted</a>",
    '<a href="https://x.example/" href="https://y.example/">duplicate</a>',
    '<a href=" https://x.example/">leading space</a>',
    '<a href="/relative">relative</a>',
    '<a href="javascript:alert(1)">js</a>',
    '<a href="jav&#x09;ascript:alert(1)">entity</a>',
    '<a href="https://x.example/a b">space</a>',
    '<a href="https://x.example/"><a href="https://y.example/">nested</a></a>',
    "<p>&eacute; &#233; &copy &foo; & x</p>",  # other entities and bare ampersands
    '<a href="https://x.example/?a=1&b=2">bare ampersand</a>',
    "<pre>\nleading newline</pre>",
    "<p/>self-closed</p>",  # html5lib reads it as <p>; the fast path need not know
    "</br>",
    "<P>upper case</P>",
    '<span  class = "mention" >spaces around =</span >',
    "<div>other tag</div>",
    "<!-- comment --><p>x</p>",
    "a\r\nb",
    "a\x00b",
    "a\x0cb",
    "<li>item outside a list</li>",
    "<ul><p>paragraph in a list</p></ul>",
    "<p><ul><li>list in a paragraph</li></ul></p>",
    "<span><p>block in a span</p></span>",
    "<h1><h2>heading in a heading</h2></h1>",
    "<li><li>item in an item</li></li>",
    "<p>" * 40 + "deep" + "</p>" * 40,
]


@pytest.mark.parametrize("source", PLAIN)
def test_plain_html_takes_the_fast_path(source: str) -> None:
    assert assert_same_as_bleach(source) is not None


@pytest.mark.parametrize("source", TO_BLEACH)
def test_anything_unusual_goes_to_bleach(source: str) -> None:
    assert _clean_plain(source) is None
    assert_safe(HtmlSanitizer().clean(source))


# -- generated HTML -----------------------------------------------------------------------

# Mostly what the fast path takes, so that it is really compared, with every trap mixed in.
_TAGS = ["p", "br", "span", "a", "del", "pre", "code", "em", "strong", "b", "i", "u"] * 3
_TAGS += ["ul", "ol", "li", "li", "blockquote", "h1", "h3", "div", "script", "img", "P", "sPan"]
_VALUES = [
    "https://x.example/p?q=1&amp;r=2",
    "HTTPS://x.example/",
    "https://x.example/&quot;&lt;&gt;&#39;",
    "https://x.example/a&b",
    "https://x.example/ é",
    " https://x.example/",
    "javascript:alert(1)",
    "java&#x09;script:alert(1)",
    "/relative",
    "#anchor",
    "gemini://g.example/",
    "mailto:a@b.example",
    "u-url mention",
    "h-card invisible nope",
    "hashtag ellipsis",
    "",
    " 7 ",
    "-3",
    "12x",
    "nofollow",
    "a\nb",
    "x\ty",
]
_NAMES = ["href", "class", "rel", "target", "start", "value", "reversed", "title", "onclick"]
_TEXT = st.one_of(
    st.text(alphabet=st.sampled_from([*list("ab >;\"'#\n\t/="), "\xa0", "é"]), max_size=8),
    st.text(alphabet=st.sampled_from([*list("ab <>&;"), "\r", "\x00", "\x0c", "\x85"]), max_size=4),
)
_ENTITIES = [
    "&amp;",
    "&lt;",
    "&gt;",
    "&quot;",
    "&#39;",
    "&nbsp;",
    "&eacute;",
    "&#10;",
    "&copy",
    "&",
]


@st.composite
def _attribute(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(_NAMES))
    value = draw(st.sampled_from(_VALUES))
    quote = draw(st.sampled_from(['"'] * 8 + ["'", ""]))
    space = draw(st.sampled_from([" "] * 6 + ["\n", "  ", "\t"]))
    return f"{space}{name}={quote}{value}{quote}"


@st.composite
def _start_tag(draw: st.DrawFn, tag: str | None = None) -> str:
    name = tag or draw(st.sampled_from(_TAGS))
    attrs = "".join(draw(st.lists(_attribute(), max_size=3)))
    end = draw(st.sampled_from([">"] * 12 + ["/>", " />", " >"]))
    return f"<{name}{attrs}{end}"


def _tree(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    @st.composite
    def element(draw: st.DrawFn) -> str:
        tag = draw(st.sampled_from(_TAGS))
        inner = "".join(draw(st.lists(children, max_size=4)))
        closing = draw(st.sampled_from([f"</{tag}>"] * 16 + ["", "</p>", f"</{tag} >"]))
        return draw(_start_tag(tag)) + inner + closing

    return element()


_LEAF = st.one_of(_TEXT, _TEXT, st.sampled_from(_ENTITIES), st.just("<br>"), _start_tag())
_HTML = st.recursive(_LEAF, _tree, max_leaves=25)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_HTML, max_size=3).map("".join))
def test_generated_html_cleans_the_same(source: str) -> None:
    assert_same_as_bleach(source)


_ALLOWED = ["p", "br", "span", "a", "del", "pre", "code", "em", "strong", "b", "i", "u"]
_ALLOWED += ["ul", "ol", "li", "blockquote", "h1", "h4"]
_SAFE_TEXT = st.text(alphabet=st.sampled_from([*list("ab >\"'#;=/\n\t"), "\xa0", "é"]), max_size=6)
_TRAPS = [*_ENTITIES, "<", "&", "\r", "\x00", "\x0c", "\n", "<div>", "</div>", "<!--x-->"]
_TRAPS += ["<p>", "</p>", "<li>", "</span>", "<a>", "<br/>", "</br>", "<pre>\n", '"', ">"]


_INLINE = ["span", "a", "del", "code", "em", "strong", "b", "i", "u", "br"]
_GOOD_CHILDREN = {
    None: [*_INLINE, "p", "pre", "ul", "ol", "blockquote", "h1", "h4"],
    "ul": ["li"],
    "ol": ["li"],
    "li": [*_INLINE, "p", "ul", "blockquote"],
    "blockquote": [*_INLINE, "p", "pre", "ol"],
}
_GOOD_ATTRIBUTES = {
    "a": [
        ("href", "https://x.example/p?q=1&amp;r=2"),
        ("href", "https://x.example/&quot;&#39;"),
        ("class", "u-url mention"),
        ("class", "mention hashtag"),
        ("rel", "tag"),
        ("target", "_blank"),
        ("translate", "no"),
    ],
    "span": [("class", "h-card"), ("class", "invisible nope"), ("translate", "no")],
    "ol": [("start", "3"), ("reversed", ""), ("reversed", "reversed")],
    "li": [("value", "2"), ("value", " -4 ")],
    "p": [("dir", "auto")],
}


@st.composite
def _any_nesting(draw: st.DrawFn, parent: str | None = None, depth: int = 0) -> str:
    """Allowed tags, mostly nested and attributed the way Mastodon writes them, now and
    then not (every other choice is drawn from the whole set)."""
    if depth > 3 or draw(st.integers(0, 3)) == 0:
        return draw(st.one_of(_SAFE_TEXT, st.sampled_from(_ENTITIES[:6])))
    wild = draw(st.integers(0, 9)) == 0
    good = _GOOD_CHILDREN.get(parent, _INLINE)
    if parent == "a":
        good = [tag for tag in good if tag != "a"]
    tag = draw(st.sampled_from(_ALLOWED if wild else good))
    pairs = draw(
        st.lists(
            st.sampled_from(_GOOD_ATTRIBUTES.get(tag, [("class", "x")])),
            max_size=2,
            unique_by=lambda p: p[0],
        )
    )
    if draw(st.integers(0, 9)) == 0:
        pairs.append((draw(st.sampled_from(_NAMES)), draw(st.sampled_from(_VALUES))))
    attrs = "".join(f' {name}="{value}"' for name, value in pairs)
    if tag == "br":
        return f"<br{attrs}>"
    inner = "".join(draw(st.lists(_any_nesting(tag, depth + 1), max_size=3)))
    return f"<{tag}{attrs}>{inner}</{tag}>"


@st.composite
def _near_plain(draw: st.DrawFn) -> str:
    """Plain-looking HTML, sometimes with one trap put in at a random place."""
    source = "".join(draw(st.lists(_any_nesting(), min_size=1, max_size=3)))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(source)))
        source = source[:at] + draw(st.sampled_from(_TRAPS)) + source[at:]
    return source


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_near_plain())
def test_generated_near_plain_html_cleans_the_same(source: str) -> None:
    assert_same_as_bleach(source)


@st.composite
def _plain_tree(draw: st.DrawFn, depth: int = 0) -> str:
    """Well-nested HTML of the allowed tags the way Mastodon writes it."""
    tag = draw(st.sampled_from(["p", "span", "a", "em", "strong", "code", "del", "b"]))
    if depth > 2:
        return draw(st.text(alphabet="ab >\"'é", min_size=1, max_size=5))
    attrs = ""
    if tag == "a":
        attrs = ' href="https://x.example/p?q=1&amp;r=2" class="u-url mention"'
    elif tag == "span":
        attrs = draw(st.sampled_from(["", ' class="invisible"', ' class="h-card nope"']))
    inner = "".join(draw(st.lists(_plain_tree(depth + 1), min_size=1, max_size=3)))
    if tag == "p" and depth:
        tag = "span"
    if tag == "a" and depth:
        tag, attrs = "em", ""
    return f"<{tag}{attrs}>{inner}</{tag}>"


@settings(max_examples=200, deadline=None)
@given(st.lists(_plain_tree(), min_size=1, max_size=3).map("".join))
def test_generated_plain_html_takes_the_fast_path(source: str) -> None:
    assert assert_same_as_bleach(source) is not None
