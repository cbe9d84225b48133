"""Benchmarks of a Kantine node: inbox ingest, delivery fan-out, start-up time and idle memory.

Each is run as ``python -m bench.<name>`` (``--quick`` for a short run) and prints its
figures as a table; ``docs/performance.md`` records the figures, the commands and the machine.
Every benchmark talks to loopback only and stops by itself, bounded in requests and time.
"""

__all__: list[str] = []
