"""A pushed ``Person`` document → one sanitised, bounded :class:`Profile` (JSON-LD via rdflib).

The document is read as JSON-LD with rdflib, against the bundled contexts (Activity
Streams, security, Mastodon's terms) and the directory contract's inline context
(``schema:``, ``org:``, ``vcard:``), so ``schema:jobTitle``, ``jobTitle`` under a sender's
own ``@vocab`` and ``http://schema.org/jobTitle`` all mean the same.  Nothing is ever
fetched: a context URL we do not bundle is dropped, and so are ``@import`` and scoped
contexts (SECURITY.md row 14).  Only the properties a profile uses are parsed (public
keys, endpoints and attachments are not), which keeps a parse near 0.2 ms.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from rdflib import BNode, Literal, URIRef
from rdflib.plugins.parsers.jsonld import Parser
from rdflib.plugins.shared.jsonld.context import Context

from activitypub.contexts import ACTIVITYSTREAMS, SECURITY_V1, extension_terms, load_context
from activitypub.errors import VocabularyError
from activitypub.hosts import host_of
from activitypub.sanitize import clean_text
from node.directory.compact import (
    AS,
    CONTRACT_CONTEXT,
    ORG,
    SCHEMA,
    VCARD,
    CompactValues,
    Iri,
    compact_values,
)

__all__ = [
    "AS",
    "CONTRACT_CONTEXT",
    "ORG",
    "SCHEMA",
    "VCARD",
    "Profile",
    "ProfileError",
    "ProfileReader",
]


#: Activity Streams terms a profile uses; other plain terms are left unparsed.
_AS_TERMS = frozenset(
    {"id", "type", "preferredUsername", "name", "summary", "url", "icon", "outbox"}
)
_KEPT_KEYWORDS = frozenset({"@id", "@type", "@value", "@language"})
_MAX_SUMMARY = 2000
_MAX_LIST = 50
_MAX_URL = 2048
_CACHED_CONTEXTS = 64
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _shared(value: str | None) -> str | None:
    return None if value is None else sys.intern(value)


class ProfileError(Exception):
    """A pushed Person that cannot become a profile; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Profile:
    """One person as the directory keeps them: plain text only, every field bounded."""

    id: str
    username: str
    name: str
    summary: str = ""
    url: str | None = None
    icon: str | None = None
    outbox: str | None = None
    job_title: str | None = None
    department: str | None = None
    location: str | None = None
    telephone: str | None = None
    email: str | None = None
    knows_about: tuple[str, ...] = ()
    knows_language: tuple[str, ...] = ()
    reports_to: str | None = None

    @property
    def host(self) -> str:
        """The node that hosts this person (``host`` or ``host:port``)."""
        return host_of(self.id)

    @property
    def handle(self) -> str:
        """The person's own handle, ``alice@finance.example``."""
        return f"{self.username}@{self.host}"


def _plain(value: str, limit: int) -> str:
    """Plain text: tags removed (if any), controls dropped, whitespace collapsed, cut to *limit*."""
    if "<" in value or "&" in value:
        value = clean_text(value)
    else:
        value = " ".join(_CONTROLS.sub("", value).split())
    return value[:limit].strip()


def _http_url(value: str) -> str | None:
    if len(value) > _MAX_URL or not value.startswith(("https://", "http://")):
        return None
    if any(c in value for c in ' "<>\\^`{|}') or _CONTROLS.search(value):
        return None
    return value


def _safe_context(entries: Iterable[Any]) -> list[dict[str, Any]]:
    """The sender's inline term definitions, without anything that could make rdflib fetch."""
    out: list[dict[str, Any]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue  # URLs: bundled ones are in the base context already, others are dropped
        terms: dict[str, Any] = {}
        for key, value in entry.items():
            if not isinstance(key, str) or key in {"@import", "@context", "@base", "@propagate"}:
                continue
            if isinstance(value, dict) and "@context" in value:
                continue  # a scoped context may name a URL
            if isinstance(value, str | dict) or value is None:
                terms[key] = value
        if terms:
            out.append(terms)
    return out


def _prune(value: Any, depth: int = 0) -> Any:
    """The value without nested contexts or restructuring keywords (``@graph``, ``@included``)."""
    if depth > 8:
        raise ProfileError("the profile nests too deeply")
    if isinstance(value, list):
        return [_prune(v, depth + 1) for v in value[:_MAX_LIST]]
    if isinstance(value, dict):
        for key in ("@id", "id"):
            if key in value and not isinstance(value[key], str):
                raise ProfileError(f"malformed JSON-LD: {key} must be a string")
        for key in ("@type", "type"):
            kinds = value.get(key, "")
            if not all(isinstance(k, str) for k in (kinds if isinstance(kinds, list) else [kinds])):
                raise ProfileError(
                    f"malformed JSON-LD: {key} must be a string or a list of strings"
                )
        if "@value" in value and not isinstance(value["@value"], str | int | float | bool):
            raise ProfileError("malformed JSON-LD: @value must be a scalar")
        return {
            k: _prune(v, depth + 1)
            for k, v in value.items()
            if isinstance(k, str) and (not k.startswith("@") or k in _KEPT_KEYWORDS)
        }
    return value


class _Triples:
    """What rdflib's JSON-LD parser writes into: a list, not a graph (no store overhead)."""

    __slots__ = ("triples",)

    def __init__(self) -> None:
        self.triples: list[tuple[Any, Any, Any]] = []

    def add(self, triple: tuple[Any, Any, Any]) -> None:
        self.triples.append(triple)


class ProfileReader:
    """Parses pushed Person documents; holds the processed base context (built once)."""

    def __init__(self, *, max_field_chars: int = 300) -> None:
        self._limit = max_field_chars
        self._contexts: dict[str, Context] = {}
        self._base = Context()
        self._base.load(
            [
                dict(load_context(ACTIVITYSTREAMS)),
                dict(load_context(SECURITY_V1)),
                {"@context": extension_terms()},
                {"@context": CONTRACT_CONTEXT},
            ]
        )

    def _context(self, own: list[dict[str, Any]]) -> Context:
        """The base context plus the sender's own terms; senders repeat theirs, so keep a few."""
        if not own:
            return self._base
        key = json.dumps(own, sort_keys=True)
        context = self._contexts.get(key)
        if context is None:
            if len(self._contexts) >= _CACHED_CONTEXTS:
                self._contexts.pop(next(iter(self._contexts)))
            context = self._contexts[key] = self._base.subcontext(own)
        return context

    def triples(self, doc: Mapping[str, Any]) -> list[tuple[Any, Any, Any]]:
        """The RDF triples of the profile part of *doc*, parsed as JSON-LD."""
        raw_context = doc.get("@context")
        own = _safe_context(raw_context if isinstance(raw_context, list) else [raw_context])
        context = self._context(own)
        own_terms = {k for entry in own for k in entry}
        body = {
            key: _prune(value)
            for key, value in doc.items()
            if isinstance(key, str)
            and (key in _AS_TERMS or ":" in key or key in own_terms)
            and not key.startswith("@")
        }
        sink = _Triples()
        try:
            Parser()._add_to_graph(sink, sink, context, body, False)  # type: ignore[arg-type]
        except ProfileError:
            raise
        except Exception as exc:  # rdflib raises bare errors on malformed JSON-LD
            raise ProfileError(f"malformed JSON-LD: {type(exc).__name__}") from None
        return sink.triples

    def read(self, doc: Mapping[str, Any]) -> Profile:
        """The profile in *doc*; :class:`ProfileError` if it is not a usable Person."""
        ident = doc.get("id")
        if not isinstance(ident, str) or _http_url(ident) is None:
            raise ProfileError("the Person has no http(s) id")
        kind = doc.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        if "Person" not in kinds:
            raise ProfileError("only a Person can be in the directory")
        username = doc.get("preferredUsername")
        if not isinstance(username, str) or not re.fullmatch(r"[\w.\-]{1,64}", username):
            raise ProfileError("the Person has no usable preferredUsername")
        try:
            host_of(ident)
        except (ValueError, VocabularyError):
            raise ProfileError("the Person's id has no host") from None
        if all(isinstance(k, str) for k in kinds):
            compact = compact_values(doc)
            if compact is not None:
                # The contract's own form: read without rdflib (same result, checked by tests).
                return _profile(ident, username, _CompactReading(compact), self._limit)
        return self.read_with_rdflib(doc)

    def read_with_rdflib(self, doc: Mapping[str, Any]) -> Profile:
        """The profile in *doc* as rdflib's JSON-LD parser reads it (any context).

        :meth:`read` checks the document first and comes here for what the compact
        reader does not take; tests call this directly to compare both readings.
        """
        ident = str(doc["id"])
        username = str(doc["preferredUsername"])
        subject = URIRef(ident)
        triples = self.triples(doc)
        about: dict[Any, dict[str, list[Any]]] = {}
        for s, p, o in triples:
            about.setdefault(s, {}).setdefault(str(p), []).append(o)
        own = about.get(subject, {})
        return _profile(ident, username, _RdfReading(own, about), self._limit)


class _Reading(Protocol):
    """The person's values by predicate, as one of the two readers found them."""

    def text(self, predicate: str, limit: int) -> str | None:
        """The first value that gives non-empty plain text (a node gives its name)."""

    def texts(self, predicate: str) -> tuple[str, ...]:
        """Every value's text, without case-blind repeats."""

    def url(self, predicate: str) -> str | None:
        """The first value that gives an http(s) URL (a node gives its ``url``/``href``)."""

    def reference(self, predicate: str) -> str | None:
        """The first value if it is an IRI or a literal and an http(s) URL."""


class _RdfReading:
    """Values as rdflib terms (``Literal``, ``URIRef``, ``BNode``) from the parsed triples."""

    def __init__(self, own: Mapping[str, list[Any]], about: Mapping[Any, Any]) -> None:
        self._own = own
        self._about = about

    def _text(self, values: list[Any] | None, limit: int) -> str | None:
        about = self._about
        for value in values or ():
            if isinstance(value, BNode | URIRef) and value in about:
                names = about[value].get(SCHEMA + "name") or about[value].get(AS + "name")
                value = names[0] if names else None
            if isinstance(value, Literal):
                text = _plain(str(value), limit)
                if text:
                    return text
        return None

    def text(self, predicate: str, limit: int) -> str | None:
        return self._text(self._own.get(predicate), limit)

    def texts(self, predicate: str) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for value in (self._own.get(predicate) or [])[:_MAX_LIST]:
            text = self._text([value], 100)
            if text and text.casefold() not in {s.casefold() for s in seen}:
                seen[text] = None
        return tuple(seen)

    def url(self, predicate: str) -> str | None:
        about = self._about
        for value in self._own.get(predicate) or ():
            if isinstance(value, BNode) and value in about:
                inner = about[value].get(AS + "url") or about[value].get(AS + "href") or []
                value = inner[0] if inner else None
            if isinstance(value, URIRef | Literal):
                url = _http_url(str(value))
                if url:
                    return url
        return None

    def reference(self, predicate: str) -> str | None:
        values = [v for v in self._own.get(predicate, []) if isinstance(v, URIRef | Literal)]
        return _http_url(str(values[0])) if values else None


class _CompactReading:
    """Values from :func:`~node.directory.compact.compact_values`: ``str`` is a literal,
    :class:`~node.directory.compact.Iri` an IRI, a dict a nested node, None an empty node."""

    def __init__(self, values: CompactValues) -> None:
        self._values = values

    @staticmethod
    def _text(values: list[Any] | None, limit: int) -> str | None:
        for value in values or ():
            if isinstance(value, dict):
                names = value.get(SCHEMA + "name") or value.get(AS + "name")
                value = names[0] if names else None
            if isinstance(value, str) and not isinstance(value, Iri):
                text = _plain(value, limit)
                if text:
                    return text
        return None

    def text(self, predicate: str, limit: int) -> str | None:
        return self._text(self._values.get(predicate), limit)

    def texts(self, predicate: str) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for value in (self._values.get(predicate) or [])[:_MAX_LIST]:
            text = self._text([value], 100)
            if text and text.casefold() not in {s.casefold() for s in seen}:
                seen[text] = None
        return tuple(seen)

    def url(self, predicate: str) -> str | None:
        for value in self._values.get(predicate) or ():
            if isinstance(value, dict):
                inner = value.get(AS + "url") or value.get(AS + "href") or []
                value = inner[0] if inner else None
            if isinstance(value, str):
                url = _http_url(value)
                if url:
                    return url
        return None

    def reference(self, predicate: str) -> str | None:
        values = [v for v in self._values.get(predicate, []) if isinstance(v, str)]
        return _http_url(values[0]) if values else None


def _profile(ident: str, username: str, values: _Reading, limit: int) -> Profile:
    """The profile from the person's values, however they were read."""

    def first(*names: str, max_len: int = limit) -> str | None:
        for name in names:
            text = values.text(name, max_len)
            if text:
                return text
        return None

    def schema(term: str) -> list[str]:
        return [SCHEMA + term, "https://schema.org/" + term]

    email = first(*schema("email"), VCARD + "hasEmail")
    if email:
        email = email.removeprefix("mailto:")
    shared = _shared  # values that repeat across people are kept once (memory at 100,000)
    return Profile(
        id=ident,
        username=username,
        name=first(AS + "name", *schema("name"), VCARD + "fn") or username,
        summary=first(AS + "summary", max_len=_MAX_SUMMARY) or "",
        url=values.url(AS + "url"),
        icon=values.url(AS + "icon"),
        outbox=values.url(AS + "outbox"),
        job_title=shared(first(*schema("jobTitle"), VCARD + "title")),
        department=shared(first(*schema("worksFor"), *schema("department"), ORG + "memberOf")),
        location=shared(first(*schema("workLocation"), VCARD + "locality")),
        telephone=first(*schema("telephone"), VCARD + "hasTelephone", max_len=40),
        email=email,
        knows_about=tuple(
            map(
                sys.intern,
                values.texts(SCHEMA + "knowsAbout") + values.texts("https://schema.org/knowsAbout"),
            )
        ),
        knows_language=tuple(map(sys.intern, values.texts(SCHEMA + "knowsLanguage")[:20])),
        reports_to=values.reference(ORG + "reportsTo"),
    )
