"""The directory pages' words in Dutch and English; the language comes from ``?lang=`` or the browser."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LANGUAGES", "pick_language", "words_for"]

LANGUAGES = ("nl", "en")

_WORDS: dict[str, dict[str, str]] = {
    "title": {"nl": "Wie is wie", "en": "Who is who"},
    "search": {"nl": "Zoeken", "en": "Search"},
    "search_hint": {
        "nl": "Naam, functie, afdeling, plaats of expertise",
        "en": "Name, job title, department, location or expertise",
    },
    "department": {"nl": "Afdeling", "en": "Department"},
    "departments": {"nl": "Afdelingen", "en": "Departments"},
    "location": {"nl": "Locatie", "en": "Location"},
    "locations": {"nl": "Locaties", "en": "Locations"},
    "expertise": {"nl": "Expertise", "en": "Expertise"},
    "job_title": {"nl": "Functie", "en": "Job title"},
    "phone": {"nl": "Telefoon", "en": "Phone"},
    "email": {"nl": "E-mail", "en": "Email"},
    "languages": {"nl": "Talen", "en": "Languages"},
    "manager": {"nl": "Leidinggevende", "en": "Manager"},
    "reports": {"nl": "Medewerkers", "en": "Reports"},
    "colleagues": {"nl": "Collega's", "en": "Colleagues"},
    "recent_posts": {"nl": "Recente berichten", "en": "Recent posts"},
    "no_posts": {"nl": "Nog geen openbare berichten.", "en": "No public posts yet."},
    "posts_unavailable": {
        "nl": "De berichten konden niet worden opgehaald.",
        "en": "The posts could not be fetched.",
    },
    "no_results": {"nl": "Niemand gevonden.", "en": "Nobody found."},
    "people": {"nl": "mensen", "en": "people"},
    "org_chart": {"nl": "Organogram", "en": "Org chart"},
    "whole_org": {"nl": "Hele organisatie", "en": "Whole organisation"},
    "follow": {"nl": "Volgen of bericht sturen", "en": "Follow or message"},
    "org_handle": {"nl": "Organisatie-handle", "en": "Organisation handle"},
    "export": {"nl": "Exporteren", "en": "Export"},
    "not_found": {"nl": "Niet gevonden", "en": "Not found"},
    "all": {"nl": "Alle", "en": "All"},
}


def pick_language(query: Mapping[str, str], accept_language: str) -> str:
    """``?lang=`` if it is one we speak, else the browser's first, else Dutch."""
    asked = query.get("lang", "")
    if asked in LANGUAGES:
        return asked
    for part in accept_language.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "nl"


def words_for(language: str) -> dict[str, str]:
    """Every word of the pages in *language*."""
    return {key: texts[language] for key, texts in _WORDS.items()}
