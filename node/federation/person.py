"""A person's who-is-who profile in the actor document: schema.org, org and vCard terms.

The directory contract (issue 5) puts the structured profile into the ``Person`` twice: as
published vocabulary (schema.org ``jobTitle``, ``worksFor``, ``workLocation``,
``telephone``, ``email``, ``knowsAbout``, ``knowsLanguage``; W3C org ``reportsTo``) for the
directory's graph, and as Mastodon ``PropertyValue`` attachments (PROTOCOL.md D17) so every
Mastodon app shows them. Attachment values are HTML-escaped text, as Mastodon renders them
as HTML.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "LABELS",
    "PERSON_TERMS",
    "FieldLabel",
    "PersonProfile",
    "profile_attachments",
    "profile_terms",
]

#: The context object appended to the actor's ``@context`` (after Mastodon's terms, so
#: ``PropertyValue`` expands to the schema.org IRI ``http://schema.org/PropertyValue``).
PERSON_TERMS: dict[str, str] = {
    "schema": "http://schema.org/",
    "org": "http://www.w3.org/ns/org#",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "PropertyValue": "schema:PropertyValue",
    "value": "schema:value",
}


@dataclass(frozen=True)
class FieldLabel:
    """The attachment name of one structured field, and the names apps may send for it."""

    attribute: str
    label: str
    aliases: tuple[str, ...]


#: Structured fields shown as attachments, in this order; the aliases (English and Dutch,
#: compared case-insensitively) let a Mastodon app edit them as ordinary profile fields.
LABELS: tuple[FieldLabel, ...] = (
    FieldLabel("job_title", "Job title", ("job title", "title", "functie", "role")),
    FieldLabel("department", "Department", ("department", "afdeling", "team")),
    FieldLabel("location", "Location", ("location", "locatie", "werkplek", "office")),
    FieldLabel("phone", "Phone", ("phone", "telefoon", "telephone", "tel")),
    FieldLabel("email", "Email", ("email", "e-mail", "mail")),
    FieldLabel("expertise", "Expertise", ("expertise", "kennis", "knows about", "skills")),
    FieldLabel("languages", "Languages", ("languages", "talen", "language", "taal")),
)


@dataclass(frozen=True)
class PersonProfile:
    """The structured profile of one local person, as plain text (never HTML)."""

    job_title: str = ""
    department: str = ""
    location: str = ""
    phone: str = ""
    email: str = ""
    expertise: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    manager_uri: str | None = None
    #: The person's own profile fields: (name, value as escaped HTML).
    free_fields: tuple[tuple[str, str], ...] = field(default=())
    #: Attachment names the person chose for structured fields: (attribute, name).
    labels: tuple[tuple[str, str], ...] = field(default=())

    def text(self, attribute: str) -> str:
        """A structured field as one line of text (lists joined with ``, ``)."""
        value = getattr(self, attribute)
        if isinstance(value, tuple):
            return ", ".join(value)
        return str(value or "")


def profile_attachments(profile: PersonProfile) -> list[dict[str, str]]:
    """The ``PropertyValue`` attachments: structured fields first, then the person's own."""
    names = dict(profile.labels)
    found = [
        {
            "type": "PropertyValue",
            "name": names.get(label.attribute, label.label),
            "value": html.escape(profile.text(label.attribute)),
        }
        for label in LABELS
        if profile.text(label.attribute)
    ]
    found += [{"type": "PropertyValue", "name": n, "value": v} for n, v in profile.free_fields]
    return found


def profile_terms(profile: PersonProfile) -> dict[str, Any]:
    """The schema.org / org terms of the profile; absent values are left out (contract §1)."""
    terms: dict[str, Any] = {}
    if profile.job_title:
        terms["schema:jobTitle"] = profile.job_title
    if profile.department:
        terms["schema:worksFor"] = {
            "type": "schema:Organization",
            "schema:name": profile.department,
        }
    if profile.location:
        terms["schema:workLocation"] = {"type": "schema:Place", "schema:name": profile.location}
    if profile.phone:
        terms["schema:telephone"] = profile.phone
    if profile.email:
        terms["schema:email"] = profile.email
    if profile.expertise:
        terms["schema:knowsAbout"] = list(profile.expertise)
    if profile.languages:
        terms["schema:knowsLanguage"] = list(profile.languages)
    if profile.manager_uri:
        terms["org:reportsTo"] = {"id": profile.manager_uri}
    return terms
