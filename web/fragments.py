"""The rendered HTML of the part of a post every reader sees alike, kept between requests.

A timeline page renders 40 posts; most of a post (who wrote it, when, the content warning,
the sanitised content with local links, the photos) is the same for every reader in one
language. :class:`PostBodies` keeps that part (``partials/status_body.html``) rendered,
keyed by *every* field the template reads (:func:`body_key`): an edit, a new display
name, a changed photo description or a new day (times are shown as "14:05" today and
"3 Mar" after) make a new key, so nothing is ever served stale and nothing needs to be
invalidated; a deleted post is simply no longer asked for. What differs per reader (the
favourite, boost and bookmark state, counts, the CSRF fields, edit and delete for one's
own posts) stays in ``partials/status.html`` and is rendered per request. One cache per
language (each jinja2 environment has its own), bounded: the least recently used go first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import jinja2
from markupsafe import Markup

__all__ = ["PostBodies", "body_key"]


def body_key(status: Mapping[str, Any], when: Callable[[Any], str]) -> tuple[Hashable, ...]:
    """Everything ``partials/status_body.html`` reads of *status* (a Status entity), with the
    time as *when* formats it now."""
    post = status["reblog"] or status
    author = post["account"]
    return (
        status["id"],
        status["account"]["display_name"] if status["reblog"] else "",
        status["account"]["username"] if status["reblog"] else "",
        post["id"],
        author["avatar_static"],
        author["acct"],
        author["display_name"],
        author["username"],
        post["created_at"],
        when(post["created_at"]),
        post["edited_at"],
        post["visibility"],
        post["spoiler_text"],
        tuple(str(hit["filter"]["title"]) for hit in post.get("filtered") or ()),
        post["language"],
        post["content"],
        tuple((m["url"], m["acct"]) for m in post["mentions"] or ()),
        tuple(
            (m["id"], m["type"], m["url"], m["preview_url"], m["description"])
            for m in post["media_attachments"] or ()
        ),
    )


class PostBodies:
    """Rendered post bodies of one language, by :func:`body_key` (the jinja2 filter
    ``post_body``)."""

    def __init__(self, environment: jinja2.Environment, size: int = 4096) -> None:
        self._environment = environment
        self._size = size
        self._entries: OrderedDict[tuple[Hashable, ...], Markup] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __call__(self, status: Mapping[str, Any]) -> Markup:
        """The body of *status*, rendered once per version."""
        key = body_key(status, self._environment.filters["when"])
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        template = self._environment.get_template("partials/status_body.html")
        found = self._entries[key] = Markup(template.render(status=status))  # noqa: S704 - autoescaped template
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return found
