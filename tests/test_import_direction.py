"""The packages import in one direction only: web → node → activitypub; config imports nothing of ours."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"activitypub", "node", "web", "config", "bench", "tests"}
#: What each package may import of ours.
ALLOWED: dict[str, set[str]] = {
    "activitypub": {"activitypub"},
    "config": {"config"},
    "node": {"node", "activitypub", "config"},
    "web": {"web", "node", "activitypub", "config"},
}
#: The composition root builds the whole application, web pages included (STYLE.md).
COMPOSITION_ROOT = {Path("node/app.py"): {"web"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for item in ast.walk(tree):
        if isinstance(item, ast.Import):
            found |= {alias.name.split(".")[0] for alias in item.names}
        elif isinstance(item, ast.ImportFrom) and item.module and item.level == 0:
            found.add(item.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_inwards(package: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in _imports(path)
        if name not in ALLOWED[package]
        and name not in COMPOSITION_ROOT.get(path.relative_to(ROOT), set())
    }
    assert not wrong, sorted(wrong)


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from node.db import models\nimport web.pages\n", encoding="utf-8")
    assert _imports(bad) == {"node", "web"}


def test_activitypub_has_no_database_or_settings() -> None:
    """The library stays pip-installable on its own: no SQLAlchemy, no settings, no templates."""
    banned = {"sqlalchemy", "alembic", "jinja2", "aiosqlite", "asyncpg"}
    offenders = set()
    for path in (ROOT / "activitypub").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for item in ast.walk(tree):
            names: list[str] = []
            if isinstance(item, ast.Import):
                names = [a.name for a in item.names]
            elif isinstance(item, ast.ImportFrom) and item.module:
                names = [item.module]
            offenders |= {f"{path.name}: {n}" for n in names if n.split(".")[0] in banned}
    assert not offenders, sorted(offenders)
