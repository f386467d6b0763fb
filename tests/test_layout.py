"""The layout holds: imports run broadsheet -> digests -> ingest, one module per outside dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ingest", "digests", "broadsheet")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules() -> dict[str, set[str]]:
    return {
        str(path.relative_to(REPO)): imports(path)
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
    }


@pytest.mark.parametrize(
    ("dependency", "allowed"),
    [
        ("httpx", {"ingest/fetch.py", "ingest/fetch_errors.py"}),
        ("apscheduler", {"broadsheet/worker.py"}),
        ("smtplib", {"digests/mail.py"}),
        ("re2", {"digests/select.py"}),
        ("dkim", {"digests/dkim.py"}),
        ("nacl", {"digests/dkim.py"}),
        (
            "feedparser",
            {
                "ingest/parse.py",
                "ingest/entities.py",
                "ingest/normalize.py",
                "ingest/feedparser_rules.py",
            },
        ),
        ("trafilatura", {"ingest/extract.py"}),
        (
            "typer",
            {
                "broadsheet/cli.py",
                "broadsheet/alerts_cli.py",
                "broadsheet/feeds_cli.py",
                "broadsheet/digest_cli.py",
                "broadsheet/subscribers_cli.py",
                "broadsheet/web_cli.py",
                "broadsheet/output.py",
            },
        ),
        ("uvicorn", {"broadsheet/web/server.py"}),
        (
            "starlette",
            {
                "broadsheet/web/server.py",
                "broadsheet/web/pages.py",
                "broadsheet/web/security.py",
                "broadsheet/web/views.py",
            },
        ),
    ],
)
def test_one_module_per_outside_dependency(dependency: str, allowed: set[str]) -> None:
    users = {
        module
        for module, names in modules().items()
        if any(name == dependency or name.startswith(f"{dependency}.") for name in names)
    }
    assert users <= allowed, (
        f"{dependency} is imported outside {sorted(allowed)}: {sorted(users - allowed)}"
    )


def test_sql_is_spoken_only_by_the_store() -> None:
    for module, names in modules().items():
        if any(name == "sqlalchemy" or name.startswith("sqlalchemy.") for name in names):
            allowed = module.startswith("ingest/store/") or module in {
                # These only pass an Engine along (for its type); they issue no SQL.
                "ingest/poll.py",
                "digests/deliver.py",
                "digests/archive.py",
                "digests/compose.py",
                "digests/alert_deliver.py",
                "broadsheet/app.py",
            }
            assert allowed, f"{module} imports sqlalchemy"


def test_nothing_imports_upward() -> None:
    above = {"ingest": ("digests", "broadsheet"), "digests": ("broadsheet",), "broadsheet": ()}
    for module, names in modules().items():
        package = module.split("/")[0]
        for name in names:
            assert name.split(".")[0] not in above[package], f"{module} imports {name}"
