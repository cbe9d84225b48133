"""The admin's pages about the node: federation, the moderation queue, description and links.

Admins only (403 for anyone else, before anything is read or changed). Allow, deny and remove
go through :func:`node.federation.policy.set_peer` with the host check of ``kantine federation
allow|deny`` (:func:`~node.federation.policy.parse_host`), and the running node applies the
decision at once. The delivery table and its "retry now" buttons are
:mod:`node.federation.delivery_admin`, as ``kantine federation deliveries`` shows them.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from node.appkeys import CONTEXT, DELIVERY, SETTINGS
from node.federation.delivery_admin import delivery_report, retry_failed, retry_now
from node.federation.policy import list_peers, parse_host, set_peer
from node.services.node_settings import (
    MAX_DESCRIPTION,
    NodeSettingError,
    get_description,
    set_description,
)
from node.services.site import MAX_LINKS, Link, SiteError, get_links, set_links
from web.current import gettext, require_admin
from web.forms import field
from web.pages.admin import admin_nav
from web.render import render

__all__ = ["routes"]

routes = web.RouteTableDef()

_DECISIONS = {"allow": "allowed", "deny": "denied"}
_LINK_NUMBER = re.compile(r"link (\d+):")
#: Empty rows under the links, for adding new ones without JavaScript.
_BLANK_LINKS = 3


# --- federation ----------------------------------------------------------------------------


async def _federation_page(
    request: web.Request,
    *,
    errors: dict[str, str] | None = None,
    host: str = "",
    status: int = 200,
) -> web.Response:
    _ = gettext(request)
    ctx = request.app[CONTEXT]
    settings = request.app[SETTINGS]
    async with ctx.sessions() as session:
        peers = await list_peers(session, settings.federation)
        report = await delivery_report(session)
    context: dict[str, Any] = {
        "title": _("Federation"),
        "nav": admin_nav(request),
        "mode": settings.federation.mode,
        "peers": peers,
        "report": report,
        "errors": errors or {},
        "host": host,
        "notice": _("Saved.") if request.query.get("saved") else "",
    }
    return render(request, "admin/federation.html", context, status=status)


@routes.get("/admin/federation")
async def federation_page(request: web.Request) -> web.StreamResponse:
    """The allowlist and the delivery queue per peer."""
    require_admin(request)
    return await _federation_page(request)


async def _decide(request: web.Request, host: str, state: str | None) -> None:
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session, session.begin():
        await set_peer(session, host, state)
    await ctx.policy.refresh(ctx.sessions)  # this process applies it now; others within seconds


@routes.post("/admin/federation/peers")
async def federation_decide(request: web.Request) -> web.StreamResponse:
    """Allow or deny a host."""
    require_admin(request)
    _ = gettext(request)
    form = await request.post()
    typed = field(form, "host", 300)
    decision = field(form, "decision", 16)
    errors: dict[str, str] = {}
    host = ""
    try:
        host = parse_host(typed)
    except ValueError:
        errors["host"] = _("Enter a host name, such as hr.example.org or 10.0.0.5:8001.")
    if host and host == request.app[CONTEXT].domain:
        errors["host"] = _("That is this node itself.")
    if decision not in _DECISIONS:
        errors["decision"] = _("Choose allow or deny.")
    if errors:
        return await _federation_page(request, errors=errors, host=typed[:300], status=422)
    await _decide(request, host, _DECISIONS[decision])
    raise web.HTTPSeeOther("/admin/federation?saved=1")


async def _posted_host(request: web.Request) -> str:
    """The host of a table row's button, or 422 when the form does not hold a host name."""
    form = await request.post()
    try:
        return parse_host(field(form, "host", 300))
    except ValueError:
        raise web.HTTPUnprocessableEntity(text="not a host name") from None


@routes.post("/admin/federation/peers/remove")
async def federation_remove(request: web.Request) -> web.StreamResponse:
    """Remove the admin's decision about a host (the config file's lists still apply)."""
    require_admin(request)
    host = await _posted_host(request)
    await _decide(request, host, None)
    raise web.HTTPSeeOther("/admin/federation?saved=1")


@routes.post("/admin/federation/retry")
async def federation_retry(request: web.Request) -> web.StreamResponse:
    """Retry a peer now: its pending deliveries become due, and failed ones are requeued."""
    require_admin(request)
    host = await _posted_host(request)
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session, session.begin():
        await retry_failed(session, host=host)
        await retry_now(session, host=host)
    request.app[DELIVERY].wake()
    raise web.HTTPSeeOther("/admin/federation?saved=1")


# --- moderation ----------------------------------------------------------------------------


@routes.get("/admin/moderation")
async def moderation_page(request: web.Request) -> web.StreamResponse:
    """The place of the moderation queue (reports arrive with the moderation work)."""
    require_admin(request)
    _ = gettext(request)
    return render(
        request, "admin/moderation.html", {"title": _("Moderation"), "nav": admin_nav(request)}
    )


# --- the node's description and the start page's links -------------------------------------


async def _node_page(
    request: web.Request,
    *,
    description: str | None = None,
    links: list[Link] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    _ = gettext(request)
    ctx = request.app[CONTEXT]
    default = request.app[SETTINGS].node.description
    async with ctx.sessions() as session:
        if description is None:
            description = await get_description(session, "")
        if links is None:
            links = await get_links(session)
    rows = list(links) + [Link("", "", "")] * min(_BLANK_LINKS, MAX_LINKS - len(links))
    context: dict[str, Any] = {
        "title": _("This node"),
        "nav": admin_nav(request),
        "description": description,
        "default_description": default,
        "max_description": MAX_DESCRIPTION,
        "links": rows,
        "errors": errors or {},
        "notice": _("Saved.") if request.query.get("saved") else "",
    }
    return render(request, "admin/node.html", context, status=status)


@routes.get("/admin/node")
async def node_page(request: web.Request) -> web.StreamResponse:
    """The node's description and the start page's application links."""
    require_admin(request)
    return await _node_page(request)


@routes.post("/admin/node")
async def node_submit(request: web.Request) -> web.StreamResponse:
    """Save both; one bad link saves nothing, and the form comes back with the error marked."""
    require_admin(request)
    _ = gettext(request)
    form = await request.post()
    description = field(form, "description", 4 * MAX_DESCRIPTION)
    labels = [v if isinstance(v, str) else "" for v in form.getall("link_label", [])]
    urls = [v if isinstance(v, str) else "" for v in form.getall("link_url", [])]
    notes = [v if isinstance(v, str) else "" for v in form.getall("link_description", [])]
    count = max(len(labels), len(urls), len(notes))
    if count > MAX_LINKS + _BLANK_LINKS:
        raise web.HTTPUnprocessableEntity(text="too many links")
    rows = []
    for i in range(count):
        label = labels[i][:300] if i < len(labels) else ""
        url = urls[i][:3000] if i < len(urls) else ""
        note = notes[i][:1000] if i < len(notes) else ""
        if label.strip() or url.strip() or note.strip():
            rows.append(Link(label, url, note))
    errors: dict[str, str] = {}
    ctx = request.app[CONTEXT]
    async with ctx.sessions() as session:
        try:
            async with session.begin():
                await set_description(session, description)
                await set_links(session, rows)
        except NodeSettingError:
            errors["description"] = _(
                "At most %(count)d characters, without control characters."
            ) % {"count": MAX_DESCRIPTION}
        except SiteError as exc:
            found = _LINK_NUMBER.match(str(exc))
            key = f"link-{found.group(1)}" if found else "links"
            errors[key] = _link_message(request, str(exc))
    if errors:
        return await _node_page(
            request,
            description=description[: 2 * MAX_DESCRIPTION],
            links=rows,
            errors=errors,
            status=422,
        )
    raise web.HTTPSeeOther("/admin/node?saved=1")


def _link_message(request: web.Request, message: str) -> str:
    _ = gettext(request)
    if "label is empty" in message:
        return _("Give the link a name.")
    if "label is longer" in message:
        return _("The name is too long.")
    if "description is longer" in message:
        return _("The description is too long.")
    if "address" in message:
        return _("Enter a web address starting with https:// or http://.")
    return _("At most %(count)d links.") % {"count": MAX_LINKS}
