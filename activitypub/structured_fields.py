"""The subset of RFC 8941 Structured Field Values that HTTP message signatures need."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = [
    "BareItem",
    "InnerList",
    "Item",
    "StructuredFieldError",
    "Token",
    "parse_dictionary",
    "serialize_inner_list",
    "serialize_item",
]


class StructuredFieldError(ValueError):
    """A field value is not a valid RFC 8941 structure."""


class Token(str):
    """An sf-token (RFC 8941 §3.3.4), kept apart from an sf-string when serialising."""

    __slots__ = ()


BareItem: TypeAlias = int | float | str | bytes | bool


@dataclass(frozen=True)
class Item:
    """An Item with its Parameters (RFC 8941 §3.3)."""

    value: BareItem
    params: dict[str, BareItem] = field(default_factory=dict)


@dataclass(frozen=True)
class InnerList:
    """An Inner List with its Parameters (RFC 8941 §3.1.1)."""

    items: tuple[Item, ...]
    params: dict[str, BareItem] = field(default_factory=dict)


_KEY = re.compile(r"[a-z*][a-z0-9_.*-]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+.^_`|~0-9A-Za-z:/-]*")
_NUMBER = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


class _Parser:
    """A cursor over one field value; each method follows the RFC 8941 §4.2 algorithm."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> StructuredFieldError:
        return StructuredFieldError(f"{what} at offset {self.pos}")

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def skip(self, chars: str) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def dictionary(self) -> dict[str, Item | InnerList]:
        members: dict[str, Item | InnerList] = {}
        self.skip(" ")
        while self.pos < len(self.text):
            name = self.key()
            if self.peek() == "=":
                self.pos += 1
                members[name] = self.member()
            else:
                members[name] = Item(True, self.parameters())
            self.skip(" \t")
            if self.pos == len(self.text):
                break
            if self.peek() != ",":
                raise self.fail("expected ','")
            self.pos += 1
            self.skip(" \t")
            if self.pos == len(self.text):
                raise self.fail("trailing ','")
        return members

    def member(self) -> Item | InnerList:
        if self.peek() != "(":
            return self.item()
        self.pos += 1
        items: list[Item] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(tuple(items), self.parameters())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise self.fail("expected ' ' or ')' in inner list")

    def item(self) -> Item:
        value = self.bare_item()
        return Item(value, self.parameters())

    def parameters(self) -> dict[str, BareItem]:
        params: dict[str, BareItem] = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            name = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[name] = value
        return params

    def key(self) -> str:
        match = _KEY.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a key")
        self.pos = match.end()
        return match.group()

    def bare_item(self) -> BareItem:
        char = self.peek()
        if char == '"':
            return self.string()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            flag = self.text[self.pos + 1 : self.pos + 2]
            if flag not in ("0", "1"):
                raise self.fail("expected ?0 or ?1")
            self.pos += 2
            return flag == "1"
        if char == "-" or char.isdigit():
            return self.number()
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected an item")
        self.pos = match.end()
        return Token(match.group())

    def number(self) -> int | float:
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a number")
        whole, fraction = match.groups()
        if fraction is None and len(whole) > 15:
            raise self.fail("integer too long")
        if fraction is not None and (len(whole) > 12 or len(fraction) > 3):
            raise self.fail("decimal too long")
        self.pos = match.end()
        return int(match.group()) if fraction is None else float(match.group())

    def string(self) -> str:
        chars: list[str] = []
        self.pos += 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\"):
                    raise self.fail("bad escape in string")
                chars.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(chars)
            elif not " " <= char <= "~":
                raise self.fail("bad character in string")
            else:
                chars.append(char)
        raise self.fail("unterminated string")

    def byte_sequence(self) -> bytes:
        match = _BYTES.match(self.text, self.pos)
        if match is None:
            raise self.fail("bad byte sequence")
        self.pos = match.end()
        try:
            return base64.b64decode(match.group(1), validate=True)
        except binascii.Error as exc:
            raise self.fail("bad base64 in byte sequence") from exc


def parse_dictionary(text: str) -> dict[str, Item | InnerList]:
    """Parse an sf-dictionary (RFC 8941 §4.2.2); later duplicate keys win, as §4.2.2 says."""
    return _Parser(text).dictionary()


def _serialize_bare(value: BareItem) -> str:
    """Serialise a Bare Item (RFC 8941 §4.1.3)."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.1f}"
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _serialize_params(params: dict[str, BareItem]) -> str:
    """Serialise Parameters (RFC 8941 §4.1.1.2)."""
    return "".join(
        f";{name}" if value is True else f";{name}={_serialize_bare(value)}"
        for name, value in params.items()
    )


def serialize_item(item: Item) -> str:
    """Serialise an Item with its Parameters (RFC 8941 §4.1.3)."""
    return _serialize_bare(item.value) + _serialize_params(item.params)


def serialize_inner_list(inner: InnerList) -> str:
    """Serialise an Inner List with its Parameters (RFC 8941 §4.1.1.1)."""
    body = " ".join(serialize_item(item) for item in inner.items)
    return f"({body}){_serialize_params(inner.params)}"
