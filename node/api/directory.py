"""The directory node's HTTP API: search for department nodes, org-wide WebFinger, SPARQL, exports.

- ``GET /directory/api/search`` (signed GET from an allowlisted node; directory contract §3)
- ``GET /.well-known/webfinger?resource=acct:alice@<directory domain>`` → Alice on her node
- ``GET|POST /sparql``: the SPARQL 1.1 protocol, read-only, JSON or CSV results
- ``GET /directory/export.{jsonld,ttl,csv,vcf}`` and ``/directory/people/export.{…}?id=…``
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from aiohttp import web

from activitypub.webfinger import parse_resource
from node.api import discovery
from node.api.common import error, signed_peer
from node.directory.appkeys import DIRECTORY, SPARQL
from node.directory.exports import FORMATS, export
from node.directory.service import Directory
from node.directory.sparql import QueryFailed, QueryRefused, QueryTimeout

__all__ = ["person_page_url", "routes", "webfinger_routes"]

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
#: Registered before the node's own WebFinger, which answers everything that is not an org handle.
webfinger_routes = web.RouteTableDef()
_CORS = {"Access-Control-Allow-Origin": "*"}
_MAX_LIMIT = 100
_MAX_PARAM = 200


def person_page_url(directory: Directory, person: str) -> str:
    """The directory's page of one person."""
    return f"{directory.base_url}/directory/people?id={quote(person, safe='')}"


def _result(directory: Directory, entry: Any, score: float) -> dict[str, Any]:
    p = entry.profile
    return {
        "id": p.id,
        "handle": p.handle,
        "org_handle": entry.org_handle,
        "name": p.name,
        "jobTitle": p.job_title,
        "department": p.department,
        "location": p.location,
        "knowsAbout": list(p.knows_about),
        "icon": p.icon,
        "url": p.url or p.id,
        "directory_url": person_page_url(directory, p.id),
        "score": score,
    }


def _limit(request: web.Request) -> int | web.Response:
    raw = request.query.get("limit", "20")
    if not raw.isdigit():
        return error(400, "limit must be a whole number")
    return max(1, min(int(raw), _MAX_LIMIT))


@routes.get("/directory/api/search")
async def search(request: web.Request) -> web.StreamResponse:
    """Ranked people for department nodes (signed GET only, like the rest of federation)."""
    peer = await signed_peer(request)
    if isinstance(peer, web.Response):
        return peer
    limit = _limit(request)
    if isinstance(limit, web.Response):
        return limit
    params = {
        k: request.query.get(k, "")[:_MAX_PARAM]
        for k in ("q", "department", "location", "expertise")
    }
    directory = request.app[DIRECTORY]
    results = directory.search(
        params["q"],
        department=params["department"],
        location=params["location"],
        expertise=params["expertise"],
        limit=limit,
    )
    return web.json_response({"results": [_result(directory, r.entry, r.score) for r in results]})


@webfinger_routes.get("/.well-known/webfinger")
async def webfinger(request: web.Request) -> web.StreamResponse:
    """``acct:alice@<directory domain>`` → Alice's actor on her own node (contract §3)."""
    directory = request.app[DIRECTORY]
    resource = request.query.get("resource", "").strip()
    try:
        local, host = parse_resource(resource)
    except ValueError:
        return await discovery.webfinger(request)
    entry = directory.by_handle(local) if host.lower() == directory.domain else None
    if entry is None:
        return await discovery.webfinger(request)
    p = entry.profile
    jrd = {
        "subject": f"acct:{entry.org_handle}",
        "aliases": [p.id],
        "links": [
            {"rel": "self", "type": "application/activity+json", "href": p.id},
            {
                "rel": "http://webfinger.net/rel/profile-page",
                "type": "text/html",
                "href": p.url or p.id,
            },
        ],
    }
    return web.json_response(
        jrd,
        content_type="application/jrd+json",
        headers=_CORS | {"Cache-Control": "public, max-age=600"},
    )


def _format(request: web.Request) -> str:
    """json, csv, turtle or ntriples from the Accept header (SPARQL 1.1 Protocol §2.1)."""
    accept = request.headers.get("Accept", "")
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, position, media.strip().lower()))
    for _, _, media in sorted(ranked):
        if media in {"text/csv"}:
            return "csv"
        if media in {"application/sparql-results+json", "application/json"}:
            return "json"
        if media == "text/turtle":
            return "turtle"
        if media == "application/n-triples":
            return "ntriples"
    return "json"


@routes.route("*", "/sparql")
async def sparql(request: web.Request) -> web.StreamResponse:
    """The read-only SPARQL endpoint: GET ?query=, POST sparql-query or form-encoded."""
    if request.method == "GET":
        query = request.query.get("query")
    elif request.method == "POST":
        kind = request.content_type
        if kind == "application/sparql-query":
            query = await request.text()
        elif kind == "application/x-www-form-urlencoded":
            form = await request.post()
            if "update" in form:
                return error(400, "SPARQL Update is not allowed: this endpoint is read-only")
            value = form.get("query")
            query = value if isinstance(value, str) else None
        elif kind == "application/sparql-update":
            return error(400, "SPARQL Update is not allowed: this endpoint is read-only")
        else:
            return error(415, "send application/sparql-query or a form with query=")
    else:
        return error(405, "use GET or POST")
    if not query:
        return error(400, "the query parameter is required")
    if any(k in request.query for k in ("default-graph-uri", "named-graph-uri")):
        return error(400, "default-graph-uri and named-graph-uri are not allowed")
    try:
        answer = await request.app[SPARQL].run(query, _format(request))
    except QueryRefused as exc:
        log.info("sparql refused: %s", exc.reason)
        return error(400, exc.reason)
    except QueryFailed as exc:
        return error(400, exc.reason)
    except QueryTimeout:
        limit = request.app[SPARQL]
        return error(503, f"the query took too long and was stopped ({limit.timeout:g} s)")
    headers = {"Access-Control-Allow-Origin": "*"}
    if answer.truncated:
        headers["X-Kantine-Truncated"] = "true"
    response = web.Response(body=answer.body, headers=headers)
    response.headers["Content-Type"] = answer.content_type
    return response


def _export(
    directory: Directory, entries: list[Any], kind: str, name: str, *, everyone: bool
) -> web.Response:
    content_type, suffix = FORMATS[kind]
    body = export(directory.graph, entries, kind, everyone=everyone)
    response = web.Response(
        text=body,
        headers={"Content-Disposition": f'attachment; filename="{name}.{suffix}"'},
    )
    response.headers["Content-Type"] = content_type
    return response


@routes.get(r"/directory/export.{kind:jsonld|ttl|csv|vcf}")
async def export_everyone(request: web.Request) -> web.StreamResponse:
    """Everyone in one file."""
    directory = request.app[DIRECTORY]
    return _export(
        directory, directory.everyone(), request.match_info["kind"], "directory", everyone=True
    )


@routes.get(r"/directory/people/export.{kind:jsonld|ttl|csv|vcf}")
async def export_person(request: web.Request) -> web.StreamResponse:
    """One person (``?id=`` their actor id)."""
    directory = request.app[DIRECTORY]
    entry = directory.get(request.query.get("id", ""))
    if entry is None:
        return error(404, "no such person in the directory")
    name = entry.org_handle.split("@")[0]
    return _export(directory, [entry], request.match_info["kind"], name, everyone=False)
