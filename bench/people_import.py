"""``kantine directory import`` of a large HR export: N generated people, some rows bad.

Runs the command as an admin does (``kantine init``, then ``kantine directory import
people.csv``) on a fresh database, twice: the first run creates everyone (a key, a profile
and a queued ``Update`` each), the second finds nothing changed. Prints the wall time of
each run, rows per second, and how many rows were refused.

    python -m bench.people_import [--rows 10000] [--bad-every 50] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import random
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


def _kantine(*argv: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", *argv], capture_output=True, text=True, check=False
    )
    return time.perf_counter() - began, done


async def measure(kind: str, rows: int, bad_every: int, folder: Path) -> list[list[object]]:
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
        _took, init = _kantine("init", "--config", config)
        if init.returncode != 0:
            raise SystemExit(init.stderr)
        result = []
        for run in ("first import (creates everyone)", "same file again (no changes)"):
            took, done = _kantine("directory", "import", str(people), "--config", config)
            errors = sum(
                1 for line in done.stderr.splitlines() if line.startswith("people.csv: line ")
            )
            summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
            result.append([f"{kind}: {run}", rows, took, rows / took, errors, summary])
        assert errors >= bad, "every bad row must be reported"
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--bad-every", type=int, default=50)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    rows: list[list[object]] = []
    for kind in kinds:
        with tempfile.TemporaryDirectory() as folder:
            rows += asyncio.run(measure(kind, args.rows, args.bad_every, Path(folder)))
    print(machine())
    print(
        table(
            f"kantine directory import, {args.rows} rows, every {args.bad_every}th bad",
            ["run", "rows", "seconds", "rows/s", "errors reported", "summary line"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
