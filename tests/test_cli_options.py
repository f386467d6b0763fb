"""Root options: --version, --config before the command (as git and docker take it), usage errors."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import typer
from processes import cli, wait_for, write_config
from sqlalchemy import Engine, create_engine, text
from stores import PG_SERVER, fresh_pg_schema
from typer.testing import CliRunner

from broadsheet import __version__
from broadsheet.cli import app

# Every command, with the arguments it requires; a new command must be added here.
COMMANDS = {
    "check": [],
    "poll": [],
    "feeds": [],
    "feeds discover": ["https://news.example/"],
    "feeds import": ["FILE"],
    "feeds export": [],
    "feeds reset": ["https://news.example/feed"],
    "digest": [],
    "preview": ["--subscriber", "ann@example.org"],
    "run": ["--once"],
    "worker": [],
    "health": [],
    "subscribers": [],
    "subscribers unsubscribe": ["ann@example.org"],
    "subscribers resubscribe": ["ann@example.org"],
    "web": [],
    "alerts": [],
}


def invoke(*args: str, cwd: Path) -> tuple[int, str]:
    """Run the CLI in ``cwd`` without the caller's BROADSHEET_* variables."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("BROADSHEET_")}
    with contextlib.chdir(cwd):  # the default config/broadsheet.toml is not found there
        result = CliRunner().invoke(app, list(args), env=unset)
    return result.exit_code, result.output


def listed_commands() -> set[str]:
    root = typer.main.get_command(app)
    names = set()
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        names.add(name)
        names |= {f"{name} {sub}" for sub in getattr(command, "commands", {})}
    return names


def test_version_prints_the_version(tmp_path: Path) -> None:
    code, output = invoke("--version", cwd=tmp_path)
    assert (code, output.strip()) == (0, f"broadsheet {__version__}")


def test_config_before_the_command_works_for_every_command(tmp_path: Path) -> None:
    assert set(COMMANDS) == listed_commands()
    broken = tmp_path / "broken.toml"
    broken.write_text('[poll]\nconcurrency = "many"\n')
    good = tmp_path / "good.toml"
    good.write_text("")
    opml = tmp_path / "list.opml"
    opml.write_text("<opml/>")
    for command, extra in COMMANDS.items():
        args = [str(opml) if arg == "FILE" else arg for arg in extra]
        code, output = invoke("--config", str(broken), *command.split(), *args, cwd=tmp_path)
        assert code == 2 and "poll.concurrency" in output, (command, output)
        code, output = invoke("-c", str(broken), *command.split(), *args, cwd=tmp_path)
        assert code == 2 and "poll.concurrency" in output, (command, output)
    # The one given after the command wins.
    code, output = invoke("--config", str(broken), "check", "--config", str(good), cwd=tmp_path)
    assert code == 0 and f"{good}: OK" in output
    code, output = invoke("--config", str(good), "check", "--config", str(broken), cwd=tmp_path)
    assert code == 2 and "poll.concurrency" in output


def test_health_within_that_is_no_duration_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "broadsheet.toml"
    config.write_text("")
    for within in ("10x", "0s", "ten minutes"):
        code, output = invoke("health", "--within", within, "--config", str(config), cwd=tmp_path)
        assert code == 2, output
        assert output.startswith("--within: expected a duration") and "Traceback" not in output


def test_a_command_closes_its_store_when_it_ends(tmp_path: Path) -> None:
    # Commands run inside longer processes too (these tests, a scheduler): a store left open
    # would hold a PostgreSQL connection for as long as that process lives.
    name = f"broadsheet_close_{os.getpid()}"
    url = fresh_pg_schema(name) + f"&application_name={name}"  # its connections, by name
    config = write_config(
        tmp_path / "broadsheet.toml", ["https://example.org/feed"], storage={"url": url}
    )
    watcher = create_engine(PG_SERVER)
    try:
        for command in (["feeds", "--json"], ["poll", "--json"], ["digest", "--json"]):
            code, out, err = cli(config, *command)
            assert code == 0, out + err
            # The client closes its connections as the command ends; the server's backends
            # leave pg_stat_activity a moment later.
            wait_for(lambda: backends(watcher, name) == 0, f"{command}'s connections to close")
    finally:
        with watcher.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        watcher.dispose()


def backends(engine: Engine, name: str) -> int:
    """Connections open under the application name ``name``."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")
    with engine.connect() as conn:
        return int(conn.execute(query, {"name": name}).scalar_one())
