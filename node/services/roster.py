"""Reading people from an HR export: CSV with a header row, or LDIF (RFC 2849) from LDAP.

Both become :class:`PersonRecord` values, one per person, each with the line it started
on; what cannot be read becomes a :class:`RowError` naming the line, the column and the
reason. Nothing here touches the database: ``node.services.people_import`` applies the
records, each in its own transaction.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["COLUMNS", "PersonRecord", "Roster", "RowError", "read_csv", "read_ldif", "read_roster"]

#: CSV columns (header names compared case-insensitively, ``_`` and spaces alike).
COLUMNS: dict[str, tuple[str, ...]] = {
    "username": ("username", "user name", "user", "uid", "gebruikersnaam"),
    "display_name": ("display name", "name", "full name", "naam"),
    "email": ("email", "e-mail", "mail"),
    "job_title": ("job title", "title", "functie"),
    "department": ("department", "afdeling"),
    "location": ("location", "locatie", "office"),
    "phone": ("phone", "telephone", "telefoon"),
    "expertise": ("expertise", "knows about", "skills"),
    "languages": ("languages", "talen"),
    "manager": ("manager username", "manager", "leidinggevende"),
}
_USERNAME = re.compile(r"[a-z0-9_]{1,30}")
#: A cell longer than this is refused at once (the profile's own limits are stricter).
_MAX_CELL = 4096


@dataclass(frozen=True)
class RowError:
    """Why one row (or LDIF entry) was not imported."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.column}: {self.reason}"


@dataclass(frozen=True)
class PersonRecord:
    """One person as the export describes them; ``None`` means "the export does not say"."""

    line: int
    username: str
    display_name: str | None = None
    email: str | None = None
    job_title: str | None = None
    department: str | None = None
    location: str | None = None
    phone: str | None = None
    expertise: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    manager: str | None = None


@dataclass
class Roster:
    """What a file held: the people and the rows that could not be read."""

    people: list[PersonRecord] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _key(name: str) -> str:
    return " ".join(name.strip().lower().replace("_", " ").split())


def _split(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(";") if v.strip())


def _username(raw: str, line: int, roster: Roster, seen: dict[str, int]) -> str | None:
    name = raw.strip().lower()
    if not name:
        roster.errors.append(RowError(line, "username", "is empty"))
        return None
    if not _USERNAME.fullmatch(name):
        roster.errors.append(
            RowError(line, "username", f"{raw.strip()[:40]!r} is not 1–30 of a–z, 0–9 and _")
        )
        return None
    if name in seen:
        roster.errors.append(RowError(line, "username", f"{name} is already on line {seen[name]}"))
        return None
    seen[name] = line
    return name


def read_csv(text: str) -> Roster:
    """People from CSV text with a header row (the columns of :data:`COLUMNS`)."""
    roster = Roster()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        roster.errors.append(RowError(1, "header", "the file is empty"))
        return roster
    except csv.Error as exc:
        roster.errors.append(RowError(1, "header", f"not CSV: {exc}"))
        return roster
    aliases = {alias: column for column, names in COLUMNS.items() for alias in names}
    aliases |= {_key(column): column for column in COLUMNS}
    columns: list[str | None] = [aliases.get(_key(h)) for h in header]
    if "username" not in columns:
        roster.errors.append(RowError(1, "header", "no username column"))
        return roster
    seen: dict[str, int] = {}
    line = reader.line_num
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            roster.errors.append(RowError(start, "row", f"not CSV: {exc}"))
            continue
        line = start
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(columns):
            roster.errors.append(
                RowError(line, "row", f"{len(cells)} cells, but the header has {len(columns)}")
            )
            continue
        values: dict[str, str] = {}
        too_long = None
        for column, cell in zip(columns, cells, strict=False):
            if column is None:
                continue
            if len(cell) > _MAX_CELL:
                too_long = column
            values[column] = cell.strip()
        if too_long is not None:
            roster.errors.append(RowError(line, too_long, f"longer than {_MAX_CELL} characters"))
            continue
        name = _username(values.get("username", ""), line, roster, seen)
        if name is None:
            continue
        roster.people.append(_record(line, name, values))
    return roster


def _record(line: int, name: str, values: dict[str, str]) -> PersonRecord:
    def text(column: str) -> str | None:
        return values.get(column)

    def items(column: str) -> tuple[str, ...] | None:
        value = values.get(column)
        return None if value is None else _split(value)

    manager = text("manager")
    return PersonRecord(
        line=line,
        username=name,
        display_name=text("display_name"),
        email=text("email"),
        job_title=text("job_title"),
        department=text("department"),
        location=text("location"),
        phone=text("phone"),
        expertise=items("expertise"),
        languages=items("languages"),
        manager=manager.lower() if manager else manager,
    )


@dataclass
class _Entry:
    line: int
    dn: str = ""
    attributes: dict[str, list[str]] = field(default_factory=dict)
    problem: str | None = None


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Unfold continuation lines (RFC 2849: a line starting with one space continues)."""
    current: tuple[int, str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(" ") and current is not None:
            current = (current[0], current[1] + line[1:])
            continue
        if current is not None:
            yield current
        current = (number, line)
    if current is not None:
        yield current


def _entries(text: str) -> Iterator[_Entry]:
    entry: _Entry | None = None
    for number, line in _logical_lines(text):
        if not line.strip():
            if entry is not None:
                yield entry
            entry = None
            continue
        if line.startswith("#"):
            continue
        if entry is None:
            if line.lower().startswith("version:"):
                continue
            entry = _Entry(number)
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            entry.problem = entry.problem or f"line {number} is not 'attribute: value'"
            continue
        if value.startswith(":"):
            try:
                value = base64.b64decode(value[1:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                entry.problem = entry.problem or f"line {number}: {name} is not valid base64 UTF-8"
                continue
        elif value.startswith("<"):
            entry.problem = entry.problem or f"line {number}: {name} refers to a file (not read)"
            continue
        key = name.strip().split(";")[0].lower()  # drop options such as ;lang-nl
        if key == "dn" and not entry.dn:
            entry.dn = value.strip()
        else:
            entry.attributes.setdefault(key, []).append(value.strip())
    if entry is not None:
        yield entry


_PERSON_CLASSES = frozenset({"person", "inetorgperson", "organizationalperson", "user"})


def _uid_of(dn: str, uids: dict[str, str]) -> str | None:
    """The ``uid`` of a DN: its ``uid=`` RDN, or the uid of the entry with that DN."""
    first = dn.split(",")[0].strip()
    attr, _, value = first.partition("=")
    if attr.strip().lower() == "uid" and value.strip():
        return value.strip().lower()
    return uids.get(_normal_dn(dn))


def _normal_dn(dn: str) -> str:
    return ",".join(part.strip().lower() for part in dn.split(","))


def read_ldif(text: str) -> Roster:
    """People from an LDAP export (RFC 2849): one ``inetOrgPerson``-like entry per person."""
    roster = Roster()
    entries = list(_entries(text))
    uids = {
        _normal_dn(e.dn): e.attributes["uid"][0].lower()
        for e in entries
        if e.dn and e.attributes.get("uid")
    }
    seen: dict[str, int] = {}
    for entry in entries:
        classes = {c.lower() for c in entry.attributes.get("objectclass", [])}
        is_person = bool(classes & _PERSON_CLASSES) or "uid" in entry.attributes
        if entry.problem is not None:
            roster.errors.append(RowError(entry.line, "entry", entry.problem))
            continue
        if not entry.dn:
            roster.errors.append(RowError(entry.line, "dn", "the entry has no dn"))
            continue
        if not is_person:
            continue  # organisational units, groups: not people
        if not entry.attributes.get("uid"):
            roster.errors.append(RowError(entry.line, "uid", "a person entry without uid"))
            continue
        name = _username(entry.attributes["uid"][0], entry.line, roster, seen)
        if name is None:
            continue

        def first(*keys: str, attrs: dict[str, list[str]] = entry.attributes) -> str | None:
            for key in keys:
                if attrs.get(key):
                    return attrs[key][0]
            return None

        manager_dn = first("manager")
        manager = None
        if manager_dn:
            manager = _uid_of(manager_dn, uids)
            if manager is None:
                roster.errors.append(
                    RowError(entry.line, "manager", f"{manager_dn[:80]!r} names no uid")
                )
                continue
        expertise = entry.attributes.get("knowsabout") or entry.attributes.get("expertise")
        languages = entry.attributes.get("preferredlanguage")
        roster.people.append(
            PersonRecord(
                line=entry.line,
                username=name,
                display_name=first("displayname", "cn"),
                email=first("mail"),
                job_title=first("title"),
                department=first("departmentnumber", "ou"),
                location=first("l", "physicaldeliveryofficename"),
                phone=first("telephonenumber"),
                expertise=tuple(expertise) if expertise else None,
                languages=tuple(v.split("-")[0].split(";")[0] for v in languages)
                if languages
                else None,
                manager=manager,
            )
        )
    return roster


def read_roster(name: str, data: bytes) -> Roster:
    """CSV or LDIF, chosen by the file name (``.ldif``/``.ldf``) or an LDIF's first line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        roster = Roster()
        roster.errors.append(RowError(1, "file", f"not UTF-8 text (byte {exc.start})"))
        return roster
    first_line = text.lstrip().split("\n", 1)[0].lower()
    if name.lower().endswith((".ldif", ".ldf")) or first_line.startswith(("dn:", "version:")):
        return read_ldif(text)
    return read_csv(text)
