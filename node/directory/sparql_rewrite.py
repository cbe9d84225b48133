"""Star-shaped questions to the SPARQL endpoint, rewritten so Oxigraph joins by hashing.

"People who know X in place Y" is a *star*: one subject variable with several
independent conditions, ``?person schema:knowsAbout "python" ;
schema:workLocation/schema:name "Utrecht"``. Oxigraph's optimiser joins the triple
patterns of a basic graph pattern as index nested loops: it takes the ~4,000 people who
know Python and probes the store for each one's place, about 65 ms at 100,000 people
(docs/performance.md). Written with each condition in a sub-select, the same question
makes Oxigraph find each group of people once and join the two sets by hashing: about
11 ms, the same answers.

:func:`hash_join_form` does that rewrite for the plain shape only, and says ``None`` for
anything else, which then runs as written. The shape: an optional prologue (``PREFIX``,
``BASE``), ``SELECT [DISTINCT] ?vars [WHERE] { triples }``, then at most ``ORDER BY``
variables (``ASC(?v)``/``DESC(?v)``), ``LIMIT`` and ``OFFSET``; the triples use variables, IRIs, prefixed names, ``a``, literals and sequence paths
(``p1/p2``), with ``;`` and ``,``. Sequence paths become triple patterns with fresh
variables, as SPARQL 1.1 §18.1.7 translates them. The conditions are the connected parts
of the pattern once the centre variable is taken out; a condition may become a sub-select
only if it names a constant (an IRI or literal as subject or object) and none of the
selected or ordering variables. Such conditions are independent given the centre, so the join of
their sub-selects has the multiplicity of the original pattern: the answer, duplicates
included, is the same (``tests/directory/test_sparql_rewrite.py`` compares both on random
graphs and queries). Only the standard library is used: the SPARQL worker imports this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["hash_join_form"]

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<string>"(?:[^"\\\n\r]|\\.)*"|'(?:[^'\\\n\r]|\\.)*')
  | (?P<lang>@[A-Za-z]+(?:-[A-Za-z0-9]+)*)
  | (?P<var>[?$][A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>[+-]?(?:\d*\.\d+(?:[eE][+-]?\d+)?|\d+\.\d*[eE][+-]?\d+|\d+(?:[eE][+-]?\d+)?))
  | (?P<pname>(?:[A-Za-z][\w.-]*)?:[\w-]*(?:[\w.-]*[\w-])?)
  | (?P<word>[A-Za-z]+)
  | (?P<punct>\^\^|[{}.;,/()])
    """,
    re.VERBOSE,
)
_FRESH = "kantine_path"


@dataclass(frozen=True, slots=True)
class _Triple:
    subject: str
    predicate: str
    object: str


def _tokens(query: str) -> list[tuple[str, str]] | None:
    """(kind, text) of every token, or None when something is outside the shape."""
    found: list[tuple[str, str]] = []
    at = 0
    while at < len(query):
        match = _TOKEN.match(query, at)
        if match is None or match.end() == at:
            return None
        kind = match.lastgroup or ""
        if kind != "ws":
            found.append((kind, match.group()))
        at = match.end()
    return found


class _Parser:
    """A recursive-descent reader of the shape; any surprise raises :class:`_Outside`."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0
        self.triples: list[_Triple] = []
        self.fresh = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def take(self, kind: str, text: str | None = None) -> str:
        got_kind, got = self.peek()
        if got_kind != kind or (text is not None and got.upper() != text):
            raise _Outside
        self.at += 1
        return got

    def word(self, text: str) -> bool:
        kind, got = self.peek()
        if kind == "word" and got.upper() == text:
            self.at += 1
            return True
        return False

    def prologue(self) -> int:
        while True:
            if self.word("PREFIX"):
                self.take("pname")
                self.take("iri")
            elif self.word("BASE"):
                self.take("iri")
            else:
                return self.at

    def term(self) -> str:
        kind, text = self.peek()
        if kind == "var":
            self.at += 1
            return "?" + text[1:]  # $x and ?x are the same variable
        if kind in ("iri", "pname", "number"):
            self.at += 1
            return text
        if kind == "word" and text in ("true", "false"):
            self.at += 1
            return text
        if kind == "string":
            self.at += 1
            if self.peek()[0] == "lang":
                return text + self.take("lang")
            if self.peek() == ("punct", "^^"):
                self.at += 1
                kind, datatype = self.peek()
                if kind not in ("iri", "pname"):
                    raise _Outside
                self.at += 1
                return f"{text}^^{datatype}"
            return text
        raise _Outside

    def predicate(self) -> list[str]:
        """A predicate or a sequence path, as its steps."""
        steps: list[str] = []
        while True:
            kind, text = self.peek()
            if kind in ("iri", "pname") or (kind == "word" and text == "a"):
                self.at += 1
                steps.append(text)
            else:
                raise _Outside
            if self.peek() != ("punct", "/"):
                return steps
            self.at += 1

    def add(self, subject: str, steps: list[str], obj: str) -> None:
        for step in steps[:-1]:
            self.fresh += 1
            middle = f"?{_FRESH}{self.fresh}"
            self.triples.append(_Triple(subject, step, middle))
            subject = middle
        self.triples.append(_Triple(subject, steps[-1], obj))

    def group(self) -> None:
        """``{ triples }``: triples-same-subject separated by ``.``."""
        self.take("punct", "{")
        while self.peek() != ("punct", "}"):
            subject = self.term()
            while True:
                steps = self.predicate()
                while True:
                    self.add(subject, steps, self.term())
                    if self.peek() != ("punct", ","):
                        break
                    self.at += 1
                if self.peek() != ("punct", ";"):
                    break
                while self.peek() == ("punct", ";"):
                    self.at += 1
                if self.peek() in (("punct", "."), ("punct", "}")):
                    break
            if self.peek() == ("punct", "."):
                self.at += 1
            elif self.peek() != ("punct", "}"):
                raise _Outside
        self.take("punct", "}")


class _Outside(Exception):
    """The query is not of the shape this module rewrites."""


def _is_variable(term: str) -> bool:
    return term[:1] in "?$"


def _name(variable: str) -> str:
    return variable[1:]


def _conditions(triples: list[_Triple], centre: str) -> list[list[_Triple]]:
    """The triples grouped by what they share besides *centre* (connected parts)."""
    parts: list[tuple[set[str], list[_Triple]]] = []
    for triple in triples:
        names = {
            _name(t) for t in (triple.subject, triple.object) if _is_variable(t) and t != centre
        }
        joined = [part for part in parts if part[0] & names]
        merged_names, merged = set(names), [triple]
        for part in joined:
            merged_names |= part[0]
            merged = part[1] + merged
            parts.remove(part)
        parts.append((merged_names, merged))
    return [part for _, part in parts]


def _text(triples: list[_Triple]) -> str:
    """The triples as SPARQL, the most constant first: Oxigraph then starts a condition
    such as ``?person schema:workLocation ?p . ?p schema:name "Utrecht"`` from the place,
    not from everyone's place (the order of a basic graph pattern changes no answer)."""
    ordered = sorted(triples, key=lambda t: _is_variable(t.subject) + _is_variable(t.object))
    return " ".join(f"{t.subject} {t.predicate} {t.object} ." for t in ordered)


def hash_join_form(query: str) -> str | None:
    """*query* with its star's independent conditions as hash-joined sub-selects, or None
    when it is not of that shape (the module docstring)."""
    tokens = _tokens(query)
    if tokens is None or any(text.startswith(f"?{_FRESH}") for _, text in tokens):
        return None
    parser = _Parser(tokens)
    try:
        end_of_prologue = parser.prologue()
        parser.take("word", "SELECT")
        distinct = parser.word("DISTINCT")
        selected: list[str] = []
        while parser.peek()[0] == "var":
            selected.append("?" + parser.take("var")[1:])
        if not selected:
            return None  # SELECT * would show the conditions' own variables
        parser.word("WHERE")
        parser.group()
        modifiers: list[str] = []
        ordered: list[str] = []
        if parser.word("ORDER"):
            parser.take("word", "BY")
            keys: list[str] = []
            while parser.peek()[0] in ("var", "word"):
                if parser.peek()[0] == "var":
                    ordered.append("?" + parser.take("var")[1:])
                    keys.append(ordered[-1])
                    continue
                direction = parser.peek()[1].upper()
                if direction not in ("ASC", "DESC"):
                    break  # LIMIT or OFFSET
                parser.at += 1
                parser.take("punct", "(")
                ordered.append("?" + parser.take("var")[1:])
                parser.take("punct", ")")
                keys.append(f"{direction}({ordered[-1]})")
            if not keys:
                return None
            modifiers.append("ORDER BY " + " ".join(keys))
        while parser.peek()[0] == "word":
            keyword = parser.take("word").upper()
            if keyword not in ("LIMIT", "OFFSET"):
                return None
            modifiers.append(f"{keyword} {parser.take('number')}")
        if parser.peek()[0] != "end":
            return None
    except _Outside:
        return None
    shown = {_name(v) for v in (*selected, *ordered)}  # these stay outside the sub-selects
    prologue = " ".join(text for _, text in tokens[:end_of_prologue])
    triples = parser.triples
    for centre in dict.fromkeys(t.subject for t in triples if _is_variable(t.subject)):
        parts = _conditions(triples, centre)
        if any(all(centre not in (t.subject, t.object) for t in part) for part in parts):
            continue  # a part that does not touch the centre: not a star around it
        hidden: list[list[_Triple]] = []
        rest: list[list[_Triple]] = []
        for part in parts:
            names = {_name(x) for t in part for x in (t.subject, t.object) if _is_variable(x)}
            constant = any(not _is_variable(x) for t in part for x in (t.subject, t.object))
            (hidden if constant and not (names - {_name(centre)}) & shown else rest).append(part)
        if len(hidden) < 2:
            continue
        joined = " ".join(f"{{ SELECT {centre} WHERE {{ {_text(part)} }} }}" for part in hidden)
        body = f"{{ SELECT {centre} WHERE {{ {joined} }} }} " + _text(
            [t for part in rest for t in part]
        )
        head = "SELECT " + ("DISTINCT " if distinct else "") + " ".join(selected)
        return f"{prologue} {head} WHERE {{ {body} }} {' '.join(modifiers)}".strip()
    return None
