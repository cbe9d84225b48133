"""Dutch and English: the language of a request and the gettext catalogues (issue 6).

Catalogues live in ``web/locale/{nl,en}/LC_MESSAGES/messages.po`` with their compiled
``.mo`` beside them (``make translations`` extracts and compiles with Babel). The language is
the ``kantine_lang`` cookie when set (the switch in every page's footer), else the best
match of ``Accept-Language``, else English.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from babel.support import NullTranslations, Translations

__all__ = [
    "DEFAULT_LOCALE",
    "LANGUAGE_COOKIE",
    "LANGUAGE_NAMES",
    "LOCALES",
    "choose_locale",
    "load_translations",
    "parse_accept_language",
    "remember_language",
]

LOCALES = ("en", "nl")
DEFAULT_LOCALE = "en"
#: Each language named in itself, for the switch.
LANGUAGE_NAMES = {"en": "English", "nl": "Nederlands"}
LANGUAGE_COOKIE = "kantine_lang"
_COOKIE_AGE = 365 * 24 * 3600
_DIRECTORY = Path(__file__).resolve().parent / "locale"


def load_translations(locale: str) -> NullTranslations:
    """The compiled catalogue of *locale* (English falls back to the source strings)."""
    return Translations.load(str(_DIRECTORY), [locale], domain="messages")


def parse_accept_language(header: str) -> list[str]:
    """Language tags of an ``Accept-Language`` header, best first (RFC 9110 §12.5.4)."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag:
            continue
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


def remember_language(response: web.StreamResponse, locale: str, *, secure: bool) -> None:
    """Set the language cookie: this browser answers in *locale* for a year."""
    response.set_cookie(
        LANGUAGE_COOKIE,
        locale,
        max_age=_COOKIE_AGE,
        httponly=True,
        samesite="Lax",
        secure=secure,
        path="/",
    )


def choose_locale(request: web.Request) -> str:
    """The language to answer *request* in."""
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    if chosen in LOCALES:
        return chosen
    for tag in parse_accept_language(request.headers.get("Accept-Language", "")):
        primary = tag.split("-")[0]
        if primary in LOCALES:
            return primary
    return DEFAULT_LOCALE
