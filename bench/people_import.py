"""``kantine directory import`` of a large HR export: N generated people, some rows bad.

Runs the command as an admin does (``kantine init``, then ``kantine directory import
people.csv``) on a fresh database: a ``--dry-run`` (every row checked, nothing written),
the import that creates everyone (a key, a profile and a queued ``Update`` each), and the
same file again (nothing changed). Prints the wall time of
each run, rows per second, and how many rows were refused.

    python -m bench.people_import [--rows 10000] [--bad-every 50] [--runs dry,import,again]
                                  [--database sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.nodes import database, free_port, node_sections, write_config
from bench.report import machine, table

__all__ = ["generate_csv", "main"]

HEADER = "username,display name,email,job title,department,location,phone,expertise,languages,manager username\n"
_FIRST = [
    "Anna",
    "Bram",
    "Carla",
    "Daan",
    "Eva",
    "Femke",
    "Gijs",
    "Hanna",
    "Ivo",
    "José",
    "Kees",
    "Lotte",
]
_LAST = ["de Boer", "Jansen", "Smit", "de Vries", "Bakker", "Visser", "Mulder", "Álvarez", "Yılmaz"]
_TITLES = ["Controller", "Beleidsadviseur", "Jurist", "Developer", "Teamleider", "Secretaris"]
_DEPARTMENTS = ["Financiën", "Sociaal Domein", "Ruimte", "ICT", "Burgerzaken", "HR"]
_PLACES = ["Utrecht", "Amersfoort", "Zwolle", "Den Haag", "Groningen"]
_SKILLS = ["subsidieaanvragen", "python", "AVG", "Wmo", "omgevingswet", "budget", "inkoop", "arbo"]
#: Bad rows cycle through these (each a different reason the import must name).
_BAD = [
    "Bad User!,Someone,,,,,,,,",
    "{u},Name,not-an-address,,,,,,,",
    "{u},Name,,,,,call me,,,",
    "{u},Name,,,,,,,<b>,",
    "{u},Name,,{long},,,,,,",
    "{u},Name,,,,,,,,nobody_here",
]


def generate_csv(rows: int, *, bad_every: int, seed: int = 5) -> tuple[str, int]:
    """A CSV of *rows* people (every *bad_every*-th row bad); returns (text, bad rows)."""
    rnd = random.Random(seed)
    lines = [HEADER]
    bad = 0
    for n in range(rows):
        username = f"p{n:06d}"
        if bad_every and n % bad_every == bad_every - 1:
            template = _BAD[bad % len(_BAD)]
            lines.append(template.format(u=username, long="x" * 300) + "\n")
            bad += 1
            continue
        manager = f"p{rnd.randrange(0, max(1, n)):06d}" if n > 10 else ""
        if manager and int(manager[1:]) % bad_every == bad_every - 1:
            manager = ""  # not a bad row's person
        lines.append(
            ",".join(
                [
                    username,
                    f"{rnd.choice(_FIRST)} {rnd.choice(_LAST)}",
                    f"{username}@example.org",
                    rnd.choice(_TITLES),
                    rnd.choice(_DEPARTMENTS),
                    rnd.choice(_PLACES),
                    f"+31 30 {rnd.randrange(1000000, 9999999)}",
                    ";".join(rnd.sample(_SKILLS, 3)),
                    "nl;en",
                    manager,
                ]
            )
            + "\n"
        )
    return "".join(lines), bad


def _kantine(*argv: str) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Run the command: (wall seconds, CPU seconds of it and its key workers, result)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", *argv], capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu, done


_RUNS = {
    "dry": "--dry-run (checks every row, writes nothing)",
    "import": "first import (creates everyone)",
    "again": "same file again (no changes)",
}


async def measure(
    kind: str, rows: int, bad_every: int, folder: Path, runs: Sequence[str]
) -> list[list[object]]:
    text, bad = generate_csv(rows, bad_every=bad_every)
    people = folder / "people.csv"
    people.write_text(text, encoding="utf-8")
    async with database(kind, folder, "import") as url:
        sections = node_sections(
            host="127.0.0.2",
            port=free_port("127.0.0.2"),
            database_url=url,
            data_dir=folder / "data",
            directory="http://127.0.0.9:9",
            allow=["127.0.0.9"],
        )
        config = str(write_config(folder / "node.toml", sections))
        _took, _cpu, init = _kantine("init", "--config", config)
        if init.returncode != 0:
            raise SystemExit(init.stderr)
        result = []
        for run in runs:
            extra = ["--dry-run"] if run == "dry" else []
            took, cpu, done = _kantine(
                "directory", "import", str(people), "--config", config, *extra
            )
            run = _RUNS[run]
            errors = sum(
                1 for line in done.stderr.splitlines() if line.startswith("people.csv: line ")
            )
            summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
            result.append(
                [f"{kind}: {run}", rows, took, rows / took, cpu * 1000 / rows, errors, summary]
            )
        assert errors >= bad, "every bad row must be reported"
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--bad-every", type=int, default=50)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument(
        "--runs", default="dry,import,again", help="dry, import and/or again (default: all)"
    )
    args = parser.parse_args(argv)
    runs = [r for r in args.runs.split(",") if r in _RUNS]
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    rows: list[list[object]] = []
    for kind in kinds:
        with tempfile.TemporaryDirectory() as folder:
            rows += asyncio.run(measure(kind, args.rows, args.bad_every, Path(folder), runs))
    print(machine(), f"(load average {os.getloadavg()[0]:.1f} at the end)")
    print(
        table(
            f"kantine directory import, {args.rows} rows, every {args.bad_every}th bad",
            ["run", "rows", "seconds", "rows/s", "CPU ms/row", "errors reported", "summary"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
