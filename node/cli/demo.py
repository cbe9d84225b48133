"""``kantine demo``: two seeded department nodes, Finance and HR, and their directory node.

All three run on loopback until Ctrl-C. The committed configs
``config/examples/demo-finance.toml``, ``demo-hr.toml`` and ``demo-directory.toml`` are copied
into the demo folder (``demo-data/``, git-ignored) once and run from there, so their
relative paths put each node's database beside them. Everything is idempotent: a second
run reuses the data, the people and their tokens, and seeds the posts only once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import aiohttp
from sqlalchemy import select

import config
from config import Settings, load_settings
from node.auth.tokens import issue_token
from node.cli.database import initialise, open_database
from node.cli.errors import CommandError
from node.cli.services import node_services as node_context
from node.db.models import Account, Follow, Status
from node.federation.documents import Urls
from node.services.accounts import create_local_account, local_account
from node.services.profile import ProfileChange, change_profile

__all__ = ["run_demo"]

_EXAMPLES = Path(config.__file__).resolve().parent / "examples"
_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
_READY_SECONDS = 60.0


@dataclass(frozen=True)
class _Person:
    node: str
    username: str
    display_name: str
    role: str

    @property
    def password(self) -> str:
        """A demo password: printed on purpose, valid only on this loopback demo."""
        return f"{self.username}-demo-kantine"


_PEOPLE = (
    _Person("finance", "alice", "Alice Jansen", "admin"),
    _Person("finance", "ingrid", "Ingrid de Vries", "communications"),
    _Person("hr", "bob", "Bob Bakker", "admin"),
    _Person("hr", "hanna", "Hanna Visser", "member"),
)
_NODES = ("finance", "hr", "directory")

#: Who-is-who profiles, set through the profile service so the nodes push them to the directory.
_PROFILES = {
    "alice": ProfileChange(
        job_title="Controller", department="Financiën", location="Utrecht",
        phone="+31 30 123 4501", expertise=["begroting", "kwartaalcijfers"],
    ),
    "ingrid": ProfileChange(
        job_title="Communicatieadviseur", department="Financiën", location="Utrecht",
        phone="+31 30 123 4502", expertise=["communicatie", "declaraties"],
    ),
    "bob": ProfileChange(
        job_title="HR-manager", department="HR", location="Amsterdam",
        phone="+31 20 765 4301", expertise=["verlof", "arbeidsvoorwaarden"],
    ),
    "hanna": ProfileChange(
        job_title="Recruiter", department="HR", location="Amsterdam",
        phone="+31 20 765 4302", expertise=["werving", "sport"],
    ),
}  # fmt: skip


@dataclass
class _Node:
    name: str
    config: Path
    settings: Settings
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return self.settings.base_url

    @property
    def domain(self) -> str:
        return self.settings.node.domain


def _shown(path: Path) -> str:
    """*path* relative to the working directory when it lies inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _kantine() -> str:
    """How the admin runs ``kantine`` from here (``make demo`` does not put it on PATH)."""
    script = Path(sys.executable).parent / "kantine"
    found = shutil.which("kantine")
    if found and Path(found).resolve() == script.resolve():
        return "kantine"
    return _shown(script) if script.exists() else f"{sys.executable} -m node.cli"


def _prepare_folder(root: Path, reset: bool) -> dict[str, _Node]:
    if reset and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    nodes = {}
    for name in _NODES:
        target, example = root / f"demo-{name}.toml", _EXAMPLES / f"demo-{name}.toml"
        if not target.exists():
            shutil.copyfile(example, target)
        elif target.read_bytes() != example.read_bytes():
            print(f"note: using the edited {_shown(target)} (--reset starts afresh)")
        # The demo's own environment must not bend its configs (KANTINE_SERVER_PORT …).
        settings = load_settings(target, env={})
        nodes[name] = _Node(name, target, settings, root / f"{name}.log")
    return nodes


def _load_state(path: Path) -> dict[str, Any]:
    if path.exists():
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return state
    return {"tokens": {}, "seeded": False}


def _save_state(path: Path, state: dict[str, Any]) -> None:
    path.write_text(json.dumps(state, indent=2), encoding="utf-8")
    path.chmod(0o600)  # bearer tokens, even if only for the demo


async def _prepare_people(nodes: dict[str, _Node], state: dict[str, Any]) -> None:
    """Initialise the nodes and create the demo people and their tokens (once)."""
    tokens: dict[str, str] = state["tokens"]
    for node in nodes.values():
        await initialise(node.settings)
        domain = node.domain.lower()
        async with (
            open_database(node.settings, str(node.config)) as sessions,
            sessions() as session,
            session.begin(),
        ):
            for person in (p for p in _PEOPLE if p.node == node.name):
                account = await local_account(session, domain, person.username)
                if account is None:
                    account = await create_local_account(
                        session,
                        domain,
                        Urls(node.base),
                        person.username,
                        password=person.password,
                        role=person.role,
                        display_name=person.display_name,
                    )
                if person.username not in tokens:
                    tokens[person.username] = await issue_token(
                        session, account, "read write follow", name="demo"
                    )


def _start(node: _Node) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANTINE_")}
    with node.log.open("ab") as log:
        node.process = subprocess.Popen(  # noqa: S603 (our own command)
            [sys.executable, "-m", "node.cli", "serve", "--config", str(node.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # we stop the nodes ourselves, in order, on Ctrl-C
        )


def _failure(node: _Node, what: str) -> CommandError:
    lines = node.log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
    tail = "\n".join(f"    {line}" for line in lines)
    return CommandError(f"the {node.name} node {what}; the end of {_shown(node.log)}:\n{tail}")


async def _wait_ready(nodes: dict[str, _Node]) -> None:
    deadline = time.monotonic() + _READY_SECONDS
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        for node in nodes.values():
            while True:
                assert node.process is not None
                if node.process.poll() is not None:
                    raise _failure(node, "stopped during start-up")
                try:
                    async with http.get(f"{node.base}/health") as response:
                        if response.status == 200:
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise _failure(node, f"did not answer {node.base}/health in time")
                await asyncio.sleep(0.1)


async def _c2s(
    http: aiohttp.ClientSession, node: _Node, user: str, token: str, activity: dict[str, Any]
) -> str | None:
    """POST *activity* to *user*'s outbox; the new object's id, or None (with a warning)."""
    async with http.post(
        f"{node.base}/users/{user}/outbox",
        json=activity,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/activity+json"},
    ) as response:
        body = await response.json(content_type=None)
        if response.status not in {200, 201}:
            print(f"warning: {user}'s {activity['type']} failed: {body}", file=sys.stderr)
            return None
        location: str = body["id"]
        return location


async def _until(node: _Node, query: Any, seconds: float = 15.0) -> bool:
    """Poll *node*'s database until *query* finds a row (federation takes a moment)."""
    deadline = time.monotonic() + seconds
    async with open_database(node.settings, str(node.config)) as sessions:
        while time.monotonic() < deadline:
            async with sessions() as session:
                if (await session.execute(query)).first() is not None:
                    return True
            await asyncio.sleep(0.2)
    return False


def _note(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Note", "content": text, "to": [_PUBLIC], **extra}


async def _seed(nodes: dict[str, _Node], tokens: dict[str, str]) -> None:
    """Follows across the two nodes, then a few posts and a reply, through the C2S API."""
    finance, hr = nodes["finance"], nodes["hr"]
    async with aiohttp.ClientSession() as http:
        await _c2s(http, finance, "alice", tokens["alice"], {"type": "Follow", "object": f"bob@{hr.domain}"})  # fmt: skip
        await _c2s(http, hr, "hanna", tokens["hanna"], {"type": "Follow", "object": f"alice@{finance.domain}"})  # fmt: skip
        for node, follower in ((finance, "alice"), (hr, "hanna")):
            accepted = (
                select(Follow.id)
                .join(Account, Account.id == Follow.account_id)
                .where(Account.username == follower, Account.local.is_(True))
                .where(Follow.state == "accepted")
            )
            if not await _until(node, accepted):
                print(f"warning: {follower}'s follow was not accepted yet", file=sys.stderr)
        bob_post = await _c2s(http, hr, "bob", tokens["bob"], _note(
            "Goedemorgen allemaal! Vanaf 1 april geldt de nieuwe verlofregeling; de details "
            "staan op het intranet. Vragen? Stel ze hier. #verlof"
        ))  # fmt: skip
        await _c2s(http, hr, "hanna", tokens["hanna"], _note(
            "Wie loopt er mee met de bedrijfsloop op 12 juni? Aanmelden kan tot eind mei. #sport"
        ))  # fmt: skip
        await _c2s(http, finance, "alice", tokens["alice"], _note(
            "Kwartaalcijfers staan online. Dank aan iedereen die heeft meegewerkt! #kwartaalcijfers"
        ))  # fmt: skip
        await _c2s(http, finance, "ingrid", tokens["ingrid"], _note(
            "Herinnering: declaraties over maart graag vóór vrijdag indienen. #declaraties"
        ))  # fmt: skip
        if bob_post and await _until(finance, select(Status.id).where(Status.uri == bob_post)):
            await _c2s(http, finance, "alice", tokens["alice"], _note(
                f"@bob@{hr.domain} Fijn, dank je! Geldt dit ook voor verlof dat al is aangevraagd?",
                inReplyTo=bob_post,
            ))  # fmt: skip


async def _seed_profiles(nodes: dict[str, _Node]) -> None:
    """Give the people their who-is-who profiles; the running nodes push them to the directory."""
    for node in (nodes["finance"], nodes["hr"]):
        async with node_context(node.settings, str(node.config)) as ctx:
            for person in (p for p in _PEOPLE if p.node == node.name):
                async with ctx.sessions() as session, session.begin():
                    account = await local_account(session, ctx.domain, person.username)
                    assert account is not None
                    await change_profile(ctx, session, account, _PROFILES[person.username])


def _instructions(nodes: dict[str, _Node], tokens: dict[str, str], root: Path) -> str:
    finance, hr, directory = nodes["finance"], nodes["hr"], nodes["directory"]
    kantine = _kantine()
    people = "\n".join(
        f"  {p.username + '@' + nodes[p.node].domain:<24} {p.role:<15} "
        f"password {p.password:<24} token {tokens[p.username]}"
        for p in _PEOPLE
    )
    fin_cfg, hr_cfg = _shown(finance.config), _shown(hr.config)
    return f"""
Kantine demo is running. Ctrl-C stops the three nodes; data stays in {_shown(root)}/.

  Financiën  {finance.base}   config {fin_cfg}   log {_shown(finance.log)}
  HR         {hr.base}   config {hr_cfg}   log {_shown(hr.log)}
  Directory  {directory.base}   config {_shown(directory.config)}   log {_shown(directory.log)}

People (alice follows bob across the nodes; hanna follows alice):
{people}

Open the web pages in a browser and log in with a name and password above:
  {finance.base}/login   (alice: post, and see bob's replies arrive live)
  {hr.base}/login   (bob)
  {directory.base}/directory?q=verlof   (who is who: search, departments, org chart)

Try:
  # WebFinger and an actor document
  curl '{finance.base}/.well-known/webfinger?resource=acct:alice@{finance.domain}'
  curl -H 'Accept: application/activity+json' {finance.base}/users/alice

  # Post as alice through ActivityPub C2S; it reaches hanna at HR
  curl -X POST {finance.base}/users/alice/outbox \\
       -H 'Authorization: Bearer {tokens["alice"]}' \\
       -H 'Content-Type: application/activity+json' \\
       -d '{{"type": "Note", "content": "Hallo HR!", "to": ["{_PUBLIC}"]}}'

  # What arrived in hanna's inbox at HR (and bob's posts in alice's)
  curl -H 'Authorization: Bearer {tokens["hanna"]}' {hr.base}/users/hanna/inbox
  curl -H 'Authorization: Bearer {tokens["alice"]}' {finance.base}/users/alice/inbox

  # The directory: search, org-wide handles, SPARQL and exports
  curl '{directory.base}/.well-known/webfinger?resource=acct:alice@{directory.domain}'
  curl -H 'Accept: text/csv' --data-urlencode 'query=PREFIX schema: <http://schema.org/>
       SELECT ?name ?title WHERE {{ ?p a schema:Person; schema:name ?name; schema:jobTitle ?title }}' \\
       {directory.base}/sparql
  curl {directory.base}/directory/export.csv

  # The admin's side
  {kantine} post --as ingrid --config {fin_cfg} "Lunch om 12 uur in de kantine"
  {kantine} federation deliveries --config {fin_cfg}
  {kantine} federation list --config {hr_cfg}
  {kantine} users list --config {hr_cfg}
"""


def _interrupt(_signum: int, _frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def _stop(nodes: dict[str, _Node]) -> None:
    running = [n for n in nodes.values() if n.process is not None and n.process.poll() is None]
    for node in running:
        assert node.process is not None
        node.process.terminate()
    for node in running:
        assert node.process is not None
        try:
            node.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()


def run_demo(args: argparse.Namespace) -> int:
    """``kantine demo``: prepare, start, seed, print what to try, run until Ctrl-C."""
    root = Path(args.dir).resolve()
    nodes = _prepare_folder(root, args.reset)
    state_file = root / "credentials.json"
    state = _load_state(state_file)
    asyncio.run(_prepare_people(nodes, state))
    _save_state(state_file, state)
    signal.signal(signal.SIGTERM, _interrupt)
    # Ctrl-C even where SIGINT was ignored for us (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(
        f"starting Financiën on {nodes['finance'].base}, HR on {nodes['hr'].base} "
        f"and the directory on {nodes['directory'].base} …"
    )
    try:
        for node in nodes.values():
            _start(node)
        asyncio.run(_wait_ready(nodes))
        if not state["seeded"]:
            print("seeding follows and posts …")
            asyncio.run(_seed(nodes, state["tokens"]))
            state["seeded"] = True
            _save_state(state_file, state)
        if not state.get("profiles"):
            print("seeding who-is-who profiles …")
            asyncio.run(_seed_profiles(nodes))
            state["profiles"] = True
            _save_state(state_file, state)
        print(_instructions(nodes, state["tokens"], root), flush=True)
        while True:
            for node in nodes.values():
                assert node.process is not None
                if node.process.poll() is not None:
                    raise _failure(node, f"stopped (exit {node.process.returncode})")
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping the nodes …")
        return 0
    finally:
        _stop(nodes)
