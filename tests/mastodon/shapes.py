"""Entity shape checks against Mastodon.py's own entity definitions (PROTOCOL.md §6.6).

Mastodon.py's ``return_types`` module declares every entity field with its type, its
version history and whether it is optional. :func:`check` walks a JSON answer and asserts
that every field a Mastodon of our advertised version always sends is present with the
right JSON type, recursing into nested entities.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import mastodon.return_types

__all__ = ["check", "fields_of"]

#: Fields added up to this Mastodon version must be present (group_key came with 4.3).
VERSION = (4, 3, 0)
_ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
#: Fields whose declared type Mastodon itself does not keep: a date, not a datetime (C8).
_DATES = {("Account", "last_status_at")}


@dataclass(frozen=True)
class Field:
    name: str
    annotation: str
    optional: bool
    added: tuple[int, ...]


@cache
def _classes() -> dict[str, list[Field]]:
    tree = ast.parse(inspect.getsource(mastodon.return_types))
    out: dict[str, list[Field]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields = []
        for index, item in enumerate(node.body):
            if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
                continue
            doc = ""
            following = node.body[index + 1] if index + 1 < len(node.body) else None
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                doc = str(following.value.value)
            added = re.search(r"\* ([\d.]+): added", doc)
            version = tuple(int(x) for x in added.group(1).split(".")) if added else (99,)
            annotation = item.annotation
            text = (
                annotation.value
                if isinstance(annotation, ast.Constant)
                else ast.unparse(annotation)
            )
            fields.append(Field(item.target.id, str(text), "(optional" in doc, version))
        out[node.name] = fields
    return out


def fields_of(entity: str) -> list[Field]:
    """The fields of *entity* a Mastodon of :data:`VERSION` always sends."""
    return [f for f in _classes()[entity] if not f.optional and f.added <= VERSION]


def _inner(annotation: str, wrapper: str) -> str | None:
    if annotation.startswith(wrapper + "[") and annotation.endswith("]"):
        return annotation[len(wrapper) + 1 : -1]
    return None


def _check_value(entity: str, name: str, annotation: str, value: Any, path: str) -> None:
    inner = _inner(annotation, "Optional")
    if inner is not None:
        if value is not None:
            _check_value(entity, name, inner, value, path)
        return
    assert value is not None, f"{path} is null but {annotation} is not nullable"
    if (options := _inner(annotation, "Union")) is not None:
        # FilterResult.filter is Union[Filter, FilterV2]: one of them must fit entirely.
        failures = []
        for option in (o.strip() for o in options.split(",")):
            try:
                _check_value(entity, name, option, value, path)
            except AssertionError as exc:
                failures.append(str(exc))
            else:
                return
        raise AssertionError(f"{path} fits none of {annotation}: {failures}")
    if (entity, name) in _DATES:
        assert isinstance(value, str) and _DATE.fullmatch(value), f"{path}={value!r}: a date"
        return
    if annotation in {"str", "IdType", "MaybeSnowflakeIdType"}:
        assert isinstance(value, str), f"{path}={value!r} should be a string"
        if annotation != "str":
            assert value.isdigit() and not value.startswith("0"), f"{path}={value!r}: an id (C5)"
    elif annotation == "bool":
        assert isinstance(value, bool), f"{path}={value!r} should be a boolean"
    elif annotation == "int":
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}={value!r}: int"
    elif annotation == "float":
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{path}: number"
    elif annotation == "datetime":
        assert isinstance(value, str) and _ISO_MS.fullmatch(value), f"{path}={value!r}: C8 time"
    elif (items := _inner(annotation, "NonPaginatableList")) is not None or annotation in {
        "NonPaginatableList",
        "list",
    }:
        assert isinstance(value, list), f"{path} should be a list"
        for index, item in enumerate(value):
            if items:
                _check_value(entity, name, items, item, f"{path}[{index}]")
    elif annotation in _classes():
        assert isinstance(value, dict), f"{path} should be an object ({annotation})"
        check(annotation, value, path)
    elif (choices := _inner(annotation, "Union")) is not None:
        _check_union(entity, name, [c.strip() for c in choices.split(",")], value, path)


def _check_union(entity: str, name: str, choices: list[str], value: Any, path: str) -> None:
    """One of several entities (MediaAttachment ``meta.original`` is image, video or audio
    metadata): the value must pass the check of at least one of them."""
    problems = []
    for choice in choices:
        if choice == "AttribAccessDict":
            assert isinstance(value, dict), f"{path} should be an object"
            return
        try:
            _check_value(entity, name, choice, value, path)
        except AssertionError as exc:
            problems.append(str(exc))
        else:
            return
    raise AssertionError(f"{path} matches none of {', '.join(choices)}: {problems}")


def check(entity: str, value: Any, path: str = "") -> None:
    """Assert that the JSON *value* is a well-formed Mastodon *entity*."""
    path = path or entity
    assert isinstance(value, dict), f"{path} should be an object"
    for field in fields_of(entity):
        assert field.name in value, f"{path} lacks {field.name}"
        _check_value(
            entity, field.name, field.annotation, value[field.name], f"{path}.{field.name}"
        )
