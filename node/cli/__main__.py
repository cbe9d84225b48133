"""``python -m node.cli``: the ``kantine`` command without the installed script."""

from __future__ import annotations

import sys

from node.cli import main

__all__: list[str] = []

sys.exit(main())
