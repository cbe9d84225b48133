"""The SPARQL worker as it was before Oxigraph wrote its answers: ``bench.directory``'s "before".

The same worker loop, guard and rewrite as :mod:`node.directory.sparql_worker`, with
the answer built term by term in Python (:func:`~node.directory.sparql_worker.answer_in_python`)
and the collector left as it was (no :func:`~node.heap.settle_heap`), so one run of the
bench times both on the same snapshot and the same questions. Run as
``python -m bench.sparql_before``; it imports nothing else, like the worker.
"""

from __future__ import annotations

from node.directory.sparql_worker import answer_in_python, main

if __name__ == "__main__":
    main(answer_in_python, settle=False)
