"""The garbage collector's settings for a serving process (docs/performance.md, the start page).

A node's heap is mostly long-lived: modules, the SQLAlchemy metadata and compiled-statement
caches, templates, the routes. CPython's oldest-generation collection walks all of it, and
a page request allocates enough short-lived containers (Status dicts for 40 posts) to
trigger one every few hundred requests: a 50–120 ms pause in the middle of a request,
which made most of the start page's p99. After startup :func:`settle_heap` collects once
and freezes what is left (``gc.freeze``: later collections skip it), and raises the
youngest generation's threshold so a request's garbage is collected in fewer, still small,
passes. Reference counting frees almost everything anyway; the collector is only for
cycles.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle_heap"]

#: Allocations (net of frees) of container objects before a youngest-generation pass
#: (CPython's default is 700).
YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Collect once, move the surviving startup heap out of the collector's way, and raise
    the youngest generation's threshold (see the module doc)."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
