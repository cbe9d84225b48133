"""What the web pages keep per application: templates per language, static files, signer.

Hung off the app object under :data:`WEB` (no module state; STYLE.md), built by
:func:`web.setup` when the node's application is composed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import jinja2
from aiohttp import web
from babel import Locale
from babel.support import NullTranslations
from markupsafe import escape

from web.feeds import QueryCache
from web.fragments import PostBodies
from web.i18n import LOCALES, load_translations
from web.static import StaticFiles
from web.text import DateWords, format_when, local_links, status_labels

__all__ = ["WEB", "WebRuntime"]


@dataclass
class WebRuntime:
    """One jinja2 environment per language (gettext installed), the static files, the pages."""

    environments: dict[str, jinja2.Environment]
    translations: dict[str, NullTranslations]
    static: StaticFiles
    queries: QueryCache = field(default_factory=QueryCache)
    handlers: Collection[Callable[..., Any]] = field(default_factory=frozenset)

    @classmethod
    def create(cls, handlers: Collection[Callable[..., Any]]) -> WebRuntime:
        static = StaticFiles.scan()
        environments = {}
        translations = {locale: load_translations(locale) for locale in LOCALES}
        for locale in LOCALES:
            env = jinja2.Environment(
                loader=jinja2.PackageLoader("web", "templates"),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
                auto_reload=False,  # templates change with a release, not while serving
            )
            env.install_gettext_translations(translations[locale], newstyle=True)  # type: ignore[attr-defined]
            env.globals["static"] = static.url
            env.globals["locale"] = locale
            env.filters["when"] = functools.partial(
                format_when, words=DateWords(Locale.parse(locale))
            )
            labels = status_labels(translations[locale])
            # Escaped once here, not once per post and button (escape() passes Markup through).
            env.globals["L"] = {key: escape(value) for key, value in labels.items()}
            env.filters["local_links"] = local_links
            env.filters["visibility_label"] = lambda value, labels=labels: labels.get(
                f"visibility_{value}", value
            )
            env.filters["post_body"] = PostBodies(env)  # the reader-independent part of a post
            environments[locale] = env
        return cls(environments, translations, static, handlers=frozenset(handlers))

    def post_bodies(self, locale: str) -> PostBodies:
        """*locale*'s cache of rendered post bodies (:mod:`web.fragments`)."""
        bodies: PostBodies = self.environments[locale].filters["post_body"]
        return bodies

    def template(self, locale: str, name: str) -> jinja2.Template:
        """The template *name* in *locale*'s environment."""
        return self.environments[locale].get_template(name)


WEB = web.AppKey("kantine_web", WebRuntime)
