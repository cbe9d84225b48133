"""How a directory node's inbox treats pushed profiles (directory contract §3).

On the request path (:func:`profile_screen`, after the inbox's own signature,
allowlist and origin checks): a ``Create``/``Update`` of a ``Person`` is accepted only
when ``object.id`` is the actor itself (so actor host = key host = an allowlisted node:
the person's own node), else 403; a Person that cannot be read as a profile is 400.
Nothing is stored for a refused push.

In the inbox worker (:func:`directory_handlers`): the profile replaces the person's
entry in the graph and the index, and a ``Delete`` of the actor removes them.  Both are
idempotent, so a replay after a crash changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from activitypub.vocabulary import Activity, Actor
from node.db.engine import AsyncSession
from node.directory.profiles import ProfileError
from node.directory.service import Directory
from node.federation.actors import actor_origin_problem
from node.federation.handlers import HANDLERS, Handler
from node.federation.inbox import InboxResult
from node.services.context import NodeContext

__all__ = ["directory_handlers", "profile_screen"]

_PROFILE_TYPES = frozenset({"Create", "Update"})


def _pushed_person(activity: Activity) -> Actor | None:
    obj = activity.object
    if activity.type in _PROFILE_TYPES and isinstance(obj, Actor) and obj.type == "Person":
        return obj
    return None


def _document(activity: Activity, person: Actor) -> Mapping[str, Any]:
    """The Person as JSON-LD: embedded objects usually leave their context to the activity."""
    if "@context" not in person.raw and "@context" in activity.raw:
        return {**person.raw, "@context": activity.raw["@context"]}
    return person.raw


def profile_screen(directory: Directory) -> Callable[[Activity], InboxResult | None]:
    """The inbox's extra check on a directory node: a refusal, or None to go on."""

    def screen(activity: Activity) -> InboxResult | None:
        person = _pushed_person(activity)
        if person is None:
            return None
        if person.id != activity.actor:
            return InboxResult(
                403,
                "a node may push only the profile of a person it hosts: object.id must be the actor",
            )
        try:
            directory.read(_document(activity, person))
        except ProfileError as exc:
            return InboxResult(400, f"unusable profile: {exc.reason}")
        return None

    return screen


def directory_handlers(directory: Directory) -> dict[str, Handler]:
    """The inbox worker's handlers on a directory node: the usual ones plus profiles."""

    async def on_profile(
        ctx: NodeContext, session: AsyncSession, activity: Activity, recipient: int | None
    ) -> str:
        person = _pushed_person(activity)
        if person is None:
            return await HANDLERS[activity.type](ctx, session, activity, recipient)
        problem = actor_origin_problem(person)
        if person.id != activity.actor or problem is not None:
            return f"ignored: {problem or 'not the actor itself'}"
        try:
            profile = directory.read(_document(activity, person))
        except ProfileError as exc:
            return f"ignored: {exc.reason}"
        await ctx.resolver.refresh(session, person)
        entry = directory.put(profile)
        return f"in the directory as {entry.org_handle}"

    async def on_delete(
        ctx: NodeContext, session: AsyncSession, activity: Activity, recipient: int | None
    ) -> str:
        outcome = await HANDLERS["Delete"](ctx, session, activity, recipient)
        if activity.object_id == activity.actor and directory.remove(activity.actor):
            return f"{outcome}; removed from the directory"
        return outcome

    return {**HANDLERS, "Create": on_profile, "Update": on_profile, "Delete": on_delete}
