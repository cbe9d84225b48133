"""The directory's HTML pages (server-rendered with jinja2, mobile first, Dutch and English).

Handlers are thin: read the query, ask the directory service, render.  Every value
from a profile is plain text and the templates escape it (autoescape); recent posts
are HTML sanitised by :mod:`node.directory.posts`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from aiohttp import web

from node.directory.appkeys import DIRECTORY, RECENT_POSTS
from node.directory.graph import Entry, slug
from node.directory.orgchart import org_chart_svg
from node.directory.service import Directory
from web.directory.i18n import pick_language, words_for

__all__ = ["routes", "setup"]

routes = web.RouteTableDef()
_TEMPLATES = web.AppKey("directory_templates", jinja2.Environment)
_MAX_PARAM = 200
_KINDS = {"departments": "department", "locations": "location"}


def _person_url(entry: Entry) -> str:
    return f"/directory/people?id={quote(entry.profile.id, safe='')}"


def _render(
    request: web.Request, template: str, *, status: int = 200, **values: Any
) -> web.Response:
    language = pick_language(request.query, request.headers.get("Accept-Language", ""))
    page = request.app[_TEMPLATES].get_template(template)
    other = "en" if language == "nl" else "nl"
    query = {k: v for k, v in request.query.items() if k != "lang"}
    html = page.render(
        t=words_for(language),
        lang=language,
        other_lang=other,
        other_lang_url=f"{request.path}?{urlencode({**query, 'lang': other})}",
        person_url=_person_url,
        **values,
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    response.headers["Content-Language"] = language
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    return response


def _param(request: web.Request, name: str) -> str:
    return request.query.get(name, "")[:_MAX_PARAM]


@routes.get("/directory")
async def search_page(request: web.Request) -> web.StreamResponse:
    """The search page, with results when something was asked."""
    directory = request.app[DIRECTORY]
    q, department, location, expertise = (
        _param(request, k) for k in ("q", "department", "location", "expertise")
    )
    asked = any((q, department, location, expertise))
    results = (
        directory.search(q, department=department, location=location, expertise=expertise, limit=50)
        if asked
        else []
    )
    return _render(
        request,
        "search.html",
        q=q,
        department=department,
        location=location,
        expertise=expertise,
        asked=asked,
        results=results,
        departments=directory.groups("department"),
        locations=directory.groups("location"),
        total=len(directory),
    )


@routes.get("/directory/people")
async def person_page(request: web.Request) -> web.StreamResponse:
    """One person: profile, expertise, manager, reports, colleagues, recent posts."""
    directory = request.app[DIRECTORY]
    entry = directory.get(request.query.get("id", ""))
    if entry is None:
        return _render(request, "missing.html", status=404)
    profile = entry.profile
    manager = directory.get(profile.reports_to) if profile.reports_to else None
    posts = await request.app[RECENT_POSTS].recent(profile.id, profile.outbox)
    return _render(
        request,
        "person.html",
        entry=entry,
        p=profile,
        manager=manager,
        reports=directory.reports(profile.id),
        colleagues=directory.colleagues(profile.id),
        posts=posts,
        department_slug=slug(profile.department) if profile.department else None,
        location_slug=slug(profile.location) if profile.location else None,
        quoted_id=quote(profile.id, safe=""),
    )


@routes.get(r"/directory/{kinds:departments|locations}")
async def groups_page(request: web.Request) -> web.StreamResponse:
    """Every department (or location) with its size."""
    kinds = request.match_info["kinds"]
    groups = request.app[DIRECTORY].groups(_KINDS[kinds])
    return _render(request, "groups.html", kinds=kinds, groups=groups)


@routes.get(r"/directory/{kinds:departments|locations}/{slug}")
async def group_page(request: web.Request) -> web.StreamResponse:
    """One department (or location) and its people."""
    kinds = request.match_info["kinds"]
    found = request.app[DIRECTORY].group(_KINDS[kinds], request.match_info["slug"])
    if found is None:
        return _render(request, "missing.html", status=404)
    group, people = found
    return _render(request, "group.html", kinds=kinds, group=group, people=people)


def _chart_people(directory: Directory, department: str) -> tuple[list[Entry], str] | None:
    if not department:
        return directory.everyone(), ""
    found = directory.group("department", department)
    if found is None:
        return None
    return found[1], found[0].label


@routes.get("/directory/orgchart.svg")
async def org_chart(request: web.Request) -> web.StreamResponse:
    """The org chart as an SVG image: ``?department=<slug>`` or the whole organisation."""
    directory = request.app[DIRECTORY]
    found = _chart_people(directory, _param(request, "department"))
    if found is None:
        return web.json_response({"error": "no such department"}, status=404)
    people, label = found
    svg = org_chart_svg(people, link=_person_url, title=label or "Organisation")
    return web.Response(
        text=svg,
        content_type="image/svg+xml",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


@routes.get("/directory/orgchart")
async def org_chart_page(request: web.Request) -> web.StreamResponse:
    """A page around the org chart, with the SVG inline so its links work."""
    directory = request.app[DIRECTORY]
    department = _param(request, "department")
    found = _chart_people(directory, department)
    if found is None:
        return _render(request, "missing.html", status=404)
    people, label = found
    svg = org_chart_svg(people, link=_person_url, title=label or "Organisation")
    return _render(
        request,
        "orgchart.html",
        svg=svg,
        label=label,
        department=department,
        departments=directory.groups("department"),
    )


def setup(app: web.Application) -> None:
    """Add the directory pages to a directory node's application."""
    app[_TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app.add_routes(routes)
