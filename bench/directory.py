"""The directory at scale: import, search, SPARQL and memory with generated people.

Generates realistic profiles (Dutch and English names with accents and tussenvoegsels,
departments, locations, job titles, expertise, managers), then measures on the
directory's own code paths, in this process:

- import: each Person document (JSON bytes, as the inbox stores it) read into a profile
  (the compact reader for the contract's form, rdflib's JSON-LD parser otherwise),
  sanitised, written to Oxigraph in batches of 500 and indexed for search; generating
  the documents is not counted (signature checks and HTTP are measured by
  ``bench.ingest``);
- start-up: reopening the store and rebuilding the index from the graph;
- search: mixed queries (names with and without accents, typos, job titles, expertise,
  department and location filters), per-query latency;
- SPARQL: "people with expertise X in location Y" through the endpoint's worker pool
  (a separate process, as ``/sparql`` runs it), per-query latency and the worker's CPU;
  the same questions, alternating, through a worker as it was before Oxigraph wrote its
  answers (``bench/sparql_before.py``: before and after in one run, answers compared);
  the same question through the search facets, with the answers compared;
- RSS of this process and of the SPARQL worker.

    python -m bench.directory [--people 100000] [--queries 2000] [--sparql 500]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.report import machine, table
from node.directory.service import Directory
from node.directory.sparql import SparqlPool
from node.federation.person import PERSON_TERMS

__all__ = ["generate", "main"]

#: Profiles per graph transaction in the import (a full re-sync arrives in bursts).
_BATCH = 500
#: Profiles re-pushed one at a time, and the source of the name queries.
_SAMPLE = 2000
_BASE = "https://directory.org.example"

FIRST = [
    "José",
    "Zoë",
    "Anaïs",
    "Chloé",
    "Renée",
    "Inês",
    "Søren",
    "Bjørn",
    "Ünal",
    "Çiğdem",
    "Noël",
    "Joëlle",
    "Maël",
    "Thijs",
    "Daan",
    "Sem",
    "Lotte",
    "Femke",
    "Sanne",
    "Iris",
    "Eline",
    "Noor",
    "Fleur",
    "Jasmijn",
    "Bram",
    "Ruben",
    "Jesse",
    "Stijn",
    "Niels",
    "Wouter",
    "Joris",
    "Koen",
    "Maarten",
    "Pieter",
    "Hendrik",
    "Willem",
    "Geertje",
    "Marloes",
    "Annelies",
    "Ingrid",
    "Mohamed",
    "Fatima",
    "Yasmina",
    "Ayşe",
    "Mehmet",
    "Özlem",
    "Sven",
    "Emma",
    "Olivia",
    "Sophie",
    "Charlotte",
    "James",
    "Oliver",
    "Harry",
    "George",
    "Amelia",
    "Isla",
    "Jack",
    "Thomas",
    "Emily",
    "Lucas",
    "Liam",
    "Mila",
    "Tess",
    "Julia",
    "Sara",
    "Anna",
    "Eva",
    "Lieke",
    "Roos",
    "Vera",
    "Hugo",
    "Finn",
    "Luuk",
]
PREFIX = ("", "", "", "van ", "de ", "van der ", "van den ", "ter ", "'t ", "van de ")
LAST = [
    "Jansen",
    "Visser",
    "Smit",
    "Bakker",
    "Meijer",
    "Mulder",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Dekker",
    "Brouwer",
    "Dijkstra",
    "Vries",
    "Berg",
    "Boer",
    "Wit",
    "Hoek",
    "Leeuwen",
    "Veen",
    "Groot",
    "Kok",
    "Jacobs",
    "Vermeulen",
    "Willems",
    "Koster",
    "Prins",
    "Huisman",
    "Kuipers",
    "Postma",
    "Çelik",
    "Yılmaz",
    "Öztürk",
    "Müller",
    "Schäfer",
    "Łukasiewicz",
    "Nguyễn",
    "García",
    "Núñez",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Hughes",
    "Green",
]
DEPARTMENTS = [
    "Financiën",
    "Sociaal Domein",
    "Burgerzaken",
    "Vergunningen",
    "Openbare Ruimte",
    "HR",
    "ICT",
    "Communicatie",
    "Juridische Zaken",
    "Inkoop",
    "Facilitaire Zaken",
    "Belastingen",
    "Wonen",
    "Economie",
    "Onderwijs",
    "Cultuur",
    "Sport",
    "Zorg",
    "Jeugd",
    "Werk en Inkomen",
    "Ruimtelijke Ordening",
    "Milieu",
    "Verkeer",
    "Handhaving",
    "Informatiebeheer",
    "Bestuursondersteuning",
    "Strategie",
    "Control",
    "Audit",
    "Projectbureau",
]
LOCATIONS = [
    "Utrecht",
    "Amsterdam",
    "Rotterdam",
    "Den Haag",
    "Zwolle",
    "Groningen",
    "Leeuwarden",
    "Arnhem",
    "Nijmegen",
    "Eindhoven",
    "Maastricht",
    "Den Bosch",
    "Almere",
    "Lelystad",
    "Middelburg",
    "Assen",
]
JOBS = [
    "Controller",
    "Beleidsadviseur",
    "Senior beleidsadviseur",
    "Teamleider",
    "Afdelingshoofd",
    "Jurist",
    "Projectleider",
    "Programmamanager",
    "Data-analist",
    "Informatieadviseur",
    "Developer",
    "Architect",
    "Communicatieadviseur",
    "HR-adviseur",
    "Recruiter",
    "Inkoper",
    "Accountmanager",
    "Secretaresse",
    "Managementassistent",
    "Klantcontactmedewerker",
    "Consulent",
    "Casemanager",
    "Toezichthouder",
    "Handhaver",
    "Vergunningverlener",
    "Planeconoom",
    "Stedenbouwkundige",
    "Verkeerskundige",
    "Ecoloog",
    "Financieel adviseur",
    "Belastingadviseur",
    "Auditor",
    "Privacy officer",
    "Security officer",
]
TOPICS = [
    "subsidieaanvragen",
    "python",
    "AVG",
    "privacy",
    "Wmo",
    "Jeugdwet",
    "Participatiewet",
    "omgevingswet",
    "BAG",
    "BRP",
    "Excel",
    "Power BI",
    "SQL",
    "R",
    "GIS",
    "ArcGIS",
    "QGIS",
    "aanbesteden",
    "contractbeheer",
    "juridisch advies",
    "bezwaar en beroep",
    "WOO",
    "archiefwet",
    "informatiebeveiliging",
    "BIO",
    "ISO 27001",
    "ITIL",
    "Scrum",
    "Agile",
    "Prince2",
    "projectmanagement",
    "verandermanagement",
    "communicatie",
    "social media",
    "webredactie",
    "toegankelijkheid",
    "WCAG",
    "UX",
    "design thinking",
    "data-analyse",
    "machine learning",
    "statistiek",
    "begroting",
    "jaarrekening",
    "BBV",
    "treasury",
    "belastingen",
    "WOZ",
    "parkeren",
    "mobiliteit",
    "fietsbeleid",
    "klimaatadaptatie",
    "energietransitie",
    "circulaire economie",
    "biodiversiteit",
    "stikstof",
    "woningbouw",
    "huisvesting",
    "ruimtelijke ordening",
    "bestemmingsplannen",
    "erfgoed",
    "cultuur",
    "sport",
    "onderwijshuisvesting",
    "leerplicht",
    "armoedebeleid",
    "schuldhulpverlening",
    "re-integratie",
    "inburgering",
    "Oekraïne",
    "crisisbeheersing",
    "veiligheid",
    "handhaving",
    "BOA",
    "evenementen",
    "HRM",
    "recruitment",
    "arbo",
    "verzuim",
    "opleiding",
    "leiderschap",
    "coaching",
    "mediation",
    "Engels",
    "Duits",
    "Frans",
    "Turks",
    "Arabisch",
    "Papiaments",
    "Fries",
    "Java",
    "Kotlin",
    "TypeScript",
    "Linux",
    "Kubernetes",
    "Azure",
]


def generate(count: int, *, seed: int = 5) -> Iterator[bytes]:
    """*count* Person documents as a department node pushes them (contract §1), as JSON."""
    rng = random.Random(seed)
    context = [
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        dict(PERSON_TERMS),
    ]
    heads: dict[str, list[str]] = {}
    for n in range(count):
        node = f"https://dept{n % 40}.org.example"
        first, last = rng.choice(FIRST), rng.choice(PREFIX) + rng.choice(LAST)
        plain = unicodedata.normalize("NFKD", first.lower())
        username = "".join(c for c in plain if c.isalnum())[:20] + str(n)
        uri = f"{node}/users/{username}"
        department = rng.choice(DEPARTMENTS)
        doc: dict[str, Any] = {
            "@context": context,
            "id": uri,
            "type": "Person",
            "preferredUsername": username,
            "name": f"{first} {last}",
            "summary": f"<p>Werkt bij {department}.</p>",
            "url": f"{node}/@{username}",
            "inbox": f"{uri}/inbox",
            "outbox": f"{uri}/outbox",
            "icon": {"type": "Image", "mediaType": "image/jpeg", "url": f"{node}/media/{n}.jpg"},
            "publicKey": {
                "id": f"{uri}#main-key",
                "owner": uri,
                "publicKeyPem": "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq…\n-----END PUBLIC KEY-----",
            },
            "schema:jobTitle": rng.choice(JOBS),
            "schema:worksFor": {"type": "schema:Organization", "schema:name": department},
            "schema:workLocation": {"type": "schema:Place", "schema:name": rng.choice(LOCATIONS)},
            "schema:telephone": f"+31 30 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            "schema:knowsAbout": rng.sample(TOPICS, rng.randint(2, 6)),
            "schema:knowsLanguage": ["nl", "en"][: rng.randint(1, 2)],
        }
        managers = heads.setdefault(department, [])
        if managers:
            doc["org:reportsTo"] = {"id": rng.choice(managers[-50:])}
        if rng.random() < 0.1:
            managers.append(uri)
        doc["attachment"] = [
            {"type": "PropertyValue", "name": "Job title", "value": doc["schema:jobTitle"]},
            {"type": "PropertyValue", "name": "Department", "value": department},
        ]
        yield json.dumps(doc).encode()


def _queries(count: int, docs: list[bytes], *, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out: list[dict[str, str]] = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.4:
            doc = json.loads(rng.choice(docs))
            name = doc["name"]
            if rng.random() < 0.5:
                name = "".join(
                    c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)
                )
            if rng.random() < 0.3 and len(name) > 4:
                i = rng.randrange(1, len(name) - 2)
                name = name[:i] + name[i + 1] + name[i] + name[i + 2 :]  # a swapped pair
            out.append({"q": name})
        elif kind < 0.6:
            out.append({"q": rng.choice(TOPICS)})
        elif kind < 0.75:
            out.append({"q": rng.choice(JOBS).split()[0], "location": rng.choice(LOCATIONS)})
        elif kind < 0.9:
            out.append({"q": rng.choice(FIRST)[:4], "department": rng.choice(DEPARTMENTS)})
        else:
            out.append({"expertise": rng.choice(TOPICS), "location": rng.choice(LOCATIONS)})
    return out


_PREFIX = "PREFIX schema: <http://schema.org/> "


def natural_query(topic: str, place: str) -> str:
    """People who know *topic* in *place*, as one would first write it."""
    return (
        f"{_PREFIX}SELECT ?person ?name WHERE {{ "
        f'?person schema:knowsAbout "{topic}" ; schema:workLocation/schema:name "{place}" ; '
        "schema:name ?name }"
    )


def joined_query(topic: str, place: str) -> str:
    """The same question with each condition in a sub-select: Oxigraph then joins the two
    sets of people by hashing instead of probing the store once per person who knows the
    topic (the example in docs/admin-guide.md)."""
    return (
        f"{_PREFIX}SELECT ?person ?name WHERE {{ "
        "{ SELECT ?person WHERE { "
        f'{{ SELECT ?person WHERE {{ ?person schema:knowsAbout "{topic}" }} }} '
        f'{{ SELECT ?person WHERE {{ ?place schema:name "{place}" . '
        "?person schema:workLocation ?place } } "
        "} } ?person schema:name ?name }"
    )


class _BeforePool(SparqlPool):
    """The endpoint's pool with the worker as it was before Oxigraph wrote the answers
    (``bench/sparql_before.py``): the before-and-after in one run."""

    worker_module = "bench.sparql_before"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _rss_mb(pid: int | None = None) -> float:
    path = Path(f"/proc/{pid or 'self'}/status")
    for line in path.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _import(people: int, store: Path) -> dict[str, float]:
    """The import, in a process of its own (``--import-into``): its garbage stays there."""
    began = time.perf_counter()
    cpu = time.process_time()
    directory = Directory(store, base_url=_BASE, domain="org.example")
    docs = generate(people)
    sample: list[bytes] = []
    # Generating the documents is not the import: its time (this thread's CPU, so the
    # store's background threads stay counted) is taken off both figures.
    making, making_cpu = 0.0, 0.0
    while True:
        t0, c0 = time.perf_counter(), time.thread_time()
        batch = list(itertools.islice(docs, _BATCH))
        making += time.perf_counter() - t0
        making_cpu += time.thread_time() - c0
        if not batch:
            break
        if len(sample) < _SAMPLE:
            sample += batch[: _SAMPLE - len(sample)]
        directory.put_many([directory.read(json.loads(body)) for body in batch])
    # Part of the import: the bulk-loaded files merged, as a SPARQL snapshot would first.
    directory.graph.optimize()
    directory.graph.store.flush()
    imported = time.perf_counter() - began - making
    imported_cpu = time.process_time() - cpu - making_cpu
    # The inbox worker's path: one pushed Update at a time (re-pushes of existing people).
    began = time.perf_counter()
    cpu = time.process_time()
    for body in sample:
        directory.apply(json.loads(body))
    one_by_one = (time.perf_counter() - began) / len(sample)
    one_by_one_cpu = (time.process_time() - cpu) / len(sample)
    rss = _rss_mb()
    directory.close()
    return {
        "imported": imported,
        "imported_cpu": imported_cpu,
        "one_by_one": one_by_one,
        "one_by_one_cpu": one_by_one_cpu,
        "rss": rss,
        "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def run(people: int, queries: int, sparql: int, folder: Path) -> None:
    """Import in a child process, then measure a freshly opened directory here."""
    store = folder / "graph"
    child = subprocess.run(  # noqa: ASYNC221 (nothing else runs while the import does)
        [
            sys.executable,
            "-m",
            "bench.directory",
            "--people",
            str(people),
            "--import-into",
            str(store),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    rss_before = _rss_mb()
    began = time.perf_counter()
    cpu = time.process_time()
    directory = Directory(store, base_url=_BASE, domain="org.example")
    reopened, reopened_cpu = time.perf_counter() - began, time.process_time() - cpu
    assert len(directory) == people, (len(directory), people)
    sample = list(itertools.islice(generate(people), _SAMPLE))

    asked = _queries(queries, sample)
    times: list[float] = []
    cpu_times: list[float] = []
    empty = 0
    for params in asked:
        c0 = time.thread_time()
        t0 = time.perf_counter()
        found = directory.search(
            params.get("q", ""),
            department=params.get("department", ""),
            location=params.get("location", ""),
            expertise=params.get("expertise", ""),
        )
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.thread_time() - c0)
        empty += not found
    pool = SparqlPool(directory.graph, folder / "snapshots", workers=1, timeout=30)
    await pool.start()
    rng = random.Random(11)
    sparql_times: list[float] = []
    sparql_cpu: list[float] = []
    facet_cpu: list[float] = []
    disagree = 0
    changed = 0
    rows = 0
    joined_times: list[float] = []
    joined_cpu: list[float] = []
    # Collections of this (the node's) process during the timed natural queries.
    collections: list[int] = []
    timing = False

    def count_collections(phase: str, info: dict[str, int]) -> None:
        if timing and phase == "start":
            collections.append(info["generation"])

    before = _BeforePool(directory.graph, folder / "snapshots-before", workers=1, timeout=30)
    await before.start()
    before_times: list[float] = []
    before_cpu: list[float] = []

    async def ask_before(topic: str, place: str) -> bytes:
        t0 = time.perf_counter()
        answer = await before.run(natural_query(topic, place), "json")
        before_times.append(time.perf_counter() - t0)
        before_cpu.append(answer.cpu_seconds)
        return answer.body

    gc.callbacks.append(count_collections)
    for i in range(sparql):
        topic, place = rng.choice(TOPICS), rng.choice(LOCATIONS)
        if i % 2:  # which of the two goes first alternates
            before_body = await ask_before(topic, place)
        timing = True
        t0 = time.perf_counter()
        answer = await pool.run(natural_query(topic, place), "json")
        sparql_times.append(time.perf_counter() - t0)
        timing = False
        sparql_cpu.append(answer.cpu_seconds)
        if not i % 2:
            before_body = await ask_before(topic, place)
        body = json.loads(answer.body)
        changed += body != json.loads(before_body)  # the same document, rows in order
        people_found = {b["person"]["value"] for b in body["results"]["bindings"]}
        answered = len(people_found)
        rows += answered
        t0 = time.perf_counter()
        joined = await pool.run(joined_query(topic, place), "json")
        joined_times.append(time.perf_counter() - t0)
        joined_cpu.append(joined.cpu_seconds)
        disagree += {
            b["person"]["value"] for b in json.loads(joined.body)["results"]["bindings"]
        } != people_found
        # The same question through the search API's facets (what department nodes ask).
        c0 = time.thread_time()
        directory.search(expertise=topic, location=place, limit=20)
        facet_cpu.append(time.thread_time() - c0)
        matching = directory.index.facet_slots("expertise", topic) & directory.index.facet_slots(
            "location", place
        )
        disagree += len(matching) != answered
    gc.callbacks.remove(count_collections)
    waits = [wall - cpu for wall, cpu in zip(sparql_times, sparql_cpu, strict=True)]
    worker_rss = max((_rss_mb(w.process.pid) for w in pool._idle), default=0.0)
    await pool.close()
    await before.close()
    rss = _rss_mb()
    directory.close()

    imported = figures["imported"]
    print(machine())
    print()
    print(
        table(
            f"Directory with {people:,} people (`python -m bench.directory --people {people}`)",
            ["measure", "value", "target"],
            [
                [
                    "import (JSON → profile → graph + index), own process",
                    f"{imported:.1f} s wall, {figures['imported_cpu']:.1f} s CPU ({figures['imported_cpu'] / people * 1000:.2f} ms CPU per profile)",
                    "< 60 s",
                ],
                [
                    "one pushed Update applied (inbox worker path)",
                    f"{figures['one_by_one'] * 1000:.2f} ms wall, {figures['one_by_one_cpu'] * 1000:.2f} ms CPU",
                    "",
                ],
                [
                    "RSS of the importing process",
                    f"{figures['rss']:.0f} MB (peak {figures['peak']:.0f} MB)",
                    "",
                ],
                [
                    "reopen store, rebuild index",
                    f"{reopened:.1f} s wall, {reopened_cpu:.1f} s CPU",
                    "",
                ],
                [
                    f"search, {queries:,} mixed queries",
                    f"p50 {statistics.median(times) * 1000:.2f} ms · p99 {_percentile(times, 0.99) * 1000:.2f} ms · max {max(times) * 1000:.1f} ms",
                    "p99 < 10 ms",
                ],
                [
                    "search, CPU per query",
                    f"p50 {statistics.median(cpu_times) * 1000:.2f} ms · p99 {_percentile(cpu_times, 0.99) * 1000:.2f} ms",
                    "",
                ],
                ["search queries without a hit", f"{empty}", ""],
                [
                    f"SPARQL expertise × location, {sparql:,} queries",
                    f"p50 {statistics.median(sparql_times) * 1000:.2f} ms · p99 {_percentile(sparql_times, 0.99) * 1000:.2f} ms ({rows / sparql:.1f} rows)",
                    "p99 < 20 ms",
                ],
                [
                    "SPARQL, wall minus the worker's CPU (node, pipes, waiting for a core)",
                    f"p50 {statistics.median(waits) * 1000:.2f} ms · p99 {_percentile(waits, 0.99) * 1000:.2f} ms",
                    "",
                ],
                [
                    "SPARQL, garbage collections in the node during those queries",
                    f"{len(collections)} (oldest generation: {collections.count(2)})",
                    "",
                ],
                [
                    "SPARQL, the worker's CPU per query",
                    f"p50 {statistics.median(sparql_cpu) * 1000:.2f} ms · p99 {_percentile(sparql_cpu, 0.99) * 1000:.2f} ms",
                    "",
                ],
                [
                    "SPARQL as before the worker's native writer (bench/sparql_before.py), the same questions alternating",
                    f"p50 {statistics.median(before_times) * 1000:.2f} ms · p99 {_percentile(before_times, 0.99) * 1000:.2f} ms ({changed} answers differ)",
                    "",
                ],
                [
                    "SPARQL before, the worker's CPU per query",
                    f"p50 {statistics.median(before_cpu) * 1000:.2f} ms · p99 {_percentile(before_cpu, 0.99) * 1000:.2f} ms",
                    "",
                ],
                [
                    "SPARQL, the same question sent as sub-selects (docs/admin-guide.md)",
                    f"p50 {statistics.median(joined_times) * 1000:.2f} ms · p99 {_percentile(joined_times, 0.99) * 1000:.2f} ms",
                    "p99 < 20 ms",
                ],
                [
                    "SPARQL as sub-selects, the worker's CPU per query",
                    f"p50 {statistics.median(joined_cpu) * 1000:.2f} ms · p99 {_percentile(joined_cpu, 0.99) * 1000:.2f} ms",
                    "",
                ],
                [
                    "the same question through the search facets, CPU",
                    f"p50 {statistics.median(facet_cpu) * 1000:.2f} ms · p99 {_percentile(facet_cpu, 0.99) * 1000:.2f} ms ({disagree} answers differ from the natural SPARQL's, by sub-selects or facets)",
                    "",
                ],
                [
                    "RSS of the directory (reopened, searched, queried)",
                    f"{rss:.0f} MB (interpreter and imports {rss_before:.0f} MB)",
                    "< 500 MB",
                ],
                ["RSS of the SPARQL worker", f"{worker_rss:.0f} MB", ""],
            ],
        )
    )


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--sparql", type=int, default=500)
    parser.add_argument("--import-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.import_into is not None:
        print(json.dumps(_import(args.people, args.import_into)))
        return
    with tempfile.TemporaryDirectory(prefix="kantine-directory-") as folder:
        asyncio.run(run(args.people, args.queries, args.sparql, Path(folder)))


if __name__ == "__main__":
    main()
