"""What the read-only SPARQL endpoint refuses, decided before a query runs.

The endpoint never writes and never fetches (SECURITY.md row 14, SSRF): SPARQL Update
(``INSERT``, ``DELETE``, ``LOAD``, ``CLEAR``, …) is refused, and so are ``SERVICE``
(a federated query: Oxigraph would make the HTTP request) and ``FROM``/``FROM NAMED``
(a dataset named by URL).  The check is lexical, on the query after SPARQL's codepoint
escapes are decoded (SPARQL 1.1 §19.2: ``\\u0053ERVICE`` *is* ``SERVICE``): keywords are
found outside strings, IRIs and comments, and not as part of a prefixed name or a
variable.  A word that only looks like a keyword inside an odd local name is refused
too, which is the safe side.  This module imports only the standard library, so the
SPARQL worker process can use it as well.
"""

from __future__ import annotations

import re

__all__ = ["QueryRefused", "check_query", "decode_escapes"]

_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_IRI = re.compile(r"<[^<>\"{}|^`\\\x00-\x20]*>")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UPDATE = frozenset(
    {"INSERT", "DELETE", "LOAD", "CLEAR", "DROP", "CREATE", "ADD", "MOVE", "COPY", "WITH", "USING"}
)
MAX_QUERY_CHARS = 20_000


class QueryRefused(Exception):
    """A query the endpoint does not run; ``reason`` is shown to the client (400)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_escapes(query: str) -> str:
    """The query with ``\\uXXXX`` and ``\\UXXXXXXXX`` replaced by their characters."""

    def one(match: re.Match[str]) -> str:
        code = int(match.group(1) or match.group(2), 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise QueryRefused("the query contains an invalid \\u escape")
        return chr(code)

    return _ESCAPE.sub(one, query)


def _keywords(query: str) -> list[str]:
    """Upper-cased bare words outside strings, IRIs and comments."""
    found: list[str] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c == "\\":
            i += 2  # a local-name escape (ex:a\#b): the escaped character is not syntax
        elif c == "#":
            end = query.find("\n", i)
            i = n if end < 0 else end + 1
        elif c in "\"'":
            long = query.startswith(c * 3, i)
            quote = c * 3 if long else c
            j = i + len(quote)
            while j < n:
                if query[j] == "\\":
                    j += 2
                    continue
                if query.startswith(quote, j):
                    break
                if not long and query[j] in "\r\n":
                    raise QueryRefused("a string in the query is not closed")
                j += 1
            else:
                raise QueryRefused("a string in the query is not closed")
            i = j + len(quote)
        elif c == "<" and (iri := _IRI.match(query, i)):
            i = iri.end()
        elif c in "?$@":
            word = _WORD.match(query, i + 1)
            i = word.end() if word else i + 1
        elif (c.isascii() and c.isalpha()) or c == "_":
            word = _WORD.match(query, i)
            assert word is not None
            end = word.end()
            before = query[i - 1] if i else " "
            after = query[end] if end < n else " "
            # ex:from, from:x and x.from are names, not keywords (the last one is refused
            # anyway below when it reads as FROM: erring on the safe side).
            if before != ":" and after != ":":
                found.append(word.group().upper())
            i = end
        else:
            i += 1
    return found


def check_query(query: str) -> str:
    """The query to run (escapes decoded), or :class:`QueryRefused` with the reason."""
    if not query.strip():
        raise QueryRefused("the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryRefused(f"the query is longer than {MAX_QUERY_CHARS} characters")
    decoded = decode_escapes(query)
    words = set(_keywords(decoded))
    if "SERVICE" in words:
        raise QueryRefused("SERVICE is not allowed: this endpoint never fetches anything")
    if "LOAD" in words:
        raise QueryRefused("LOAD is not allowed: this endpoint is read-only and never fetches")
    if words & _UPDATE:
        raise QueryRefused("SPARQL Update is not allowed: this endpoint is read-only")
    if "FROM" in words:
        raise QueryRefused("FROM and FROM NAMED are not allowed: query the directory's own graph")
    return decoded
