"""`broadsheet web` as a real process for the tests: uvicorn on a free port of 127.0.0.1.

``WebServer`` starts the command with a signing key in its environment, waits until
``/healthz`` answers, and kills it (and only it) on leaving. ``configure`` writes a config with
two subscribers, Ann and Bob, due now; ``mailed`` polls and mails them their first digests with
links to a server; ``page_links`` makes the signed links a digest carries for a subscriber.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import httpx
from processes import BROADSHEET, daily_schedule, environment, run, wait_for, write_config
from server import FeedServer
from smtp import free_port
from typer.testing import CliRunner

from broadsheet.cli import app
from digests.links import Links, links
from ingest.models import Standing
from ingest.store import subscribers
from ingest.store.database import open_store

SECRET_ENV = "BROADSHEET_SECRET_KEY"
SECRET = "a-test-signing-key-of-more-than-32-characters"  # not a real key: tests only
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ANN, BOB = "ann@example.org", "bob@example.org"
FEEDS = (("newswire.rss", ["world"]), ("harbor-times.atom", ["business"]))


class WebServer:
    """`broadsheet web --port P --config C` in the background; its stderr goes to ``log``."""

    def __init__(
        self,
        config: Path,
        log: Path | None = None,
        env: Mapping[str, str] | None = None,
        secret: str = SECRET,
    ) -> None:
        self.config = config
        self.log = log or config.with_name(f"web-{id(self)}.log")
        self.env = {SECRET_ENV: secret} | dict(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> WebServer:
        """Start the server and wait until it answers /healthz (fail early if it exits)."""
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            [*BROADSHEET, "web", "--port", str(self.port), "--config", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
            env=environment(self.env),
            cwd=self.config.parent,
            start_new_session=True,
        )
        wait_for(self._ready, f"`broadsheet web` on port {self.port} to answer /healthz")
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"`broadsheet web` exited; its output:\n{self.text()}")
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        return False

    def text(self) -> str:
        """What the server printed and logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """Kill the server if it still runs; close its log."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def standing(storage_url: str, email: str) -> Standing:
    """The subscriber as the store knows them now (the config's subscribers are synced)."""
    engine = open_store(storage_url)
    try:
        found = subscribers.get(engine, email)
    finally:
        engine.dispose()
    assert found is not None, f"{email} is not in the store"
    return found


def public_id(storage_url: str, email: str) -> str:
    """The subscriber's public id, as the store gave it."""
    return standing(storage_url, email).public_id


def page_links(base_url: str, storage_url: str, email: str, secret: str = SECRET) -> Links:
    """The signed links a digest to ``email`` carries, pointing at ``base_url``."""
    return links(base_url, secret, public_id(storage_url, email))


def csrf(html: str) -> str:
    """The CSRF field of the (first) form on a page."""
    found = _CSRF.search(html)
    assert found, f"no CSRF field on the page:\n{html[:2000]}"
    return found[1]


def cli_with_key(config: Path, *args: str, secret: str = SECRET) -> tuple[int, str, str]:
    """Run one `broadsheet` command in this process with the signing key set: status, out, err."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("BROADSHEET_")}
    result = CliRunner().invoke(
        app, [*args, "--config", str(config)], env=unset | {SECRET_ENV: secret}
    )
    return result.exit_code, result.stdout, result.stderr


def configure(
    tmp_path: Path,
    storage_url: str,
    *,
    base_url: str = "",
    feeds: list[dict[str, Any]] | None = None,
    smtp_port: int | None = None,
) -> Path:
    """A config with Ann and Bob, both due now, on ``storage_url``."""
    tables: dict[str, dict[str, Any]] = {
        "storage": {"url": storage_url},
        "digests": {"output_dir": "out"},
    }
    if base_url:
        tables["web"] = {"base_url": base_url}
    if smtp_port is not None:
        tables["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "security": "none"}
    people = [{"email": email, "schedule": daily_schedule()} for email in (ANN, BOB)]
    path = write_config(tmp_path / "broadsheet.toml", [], people, **tables)
    for feed in feeds or []:
        lines = ["[[feeds]]", *(f"{k} = {json.dumps(v)}" for k, v in feed.items())]
        path.write_text(path.read_text() + "\n".join(lines) + "\n")
    return path


def news(feed_server: FeedServer) -> list[dict[str, Any]]:
    """Two feeds of yesterday's stories on the test server, tagged world and business."""
    return [{"url": feed_server.url(f"/recent/{n}"), "tags": tags} for n, tags in FEEDS]


def command(config: Path, *args: str) -> str:
    """Run a `broadsheet` command as a process, with the signing key; its output."""
    done = run(config, *args, env={SECRET_ENV: SECRET})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def mailed(
    tmp_path: Path, storage_url: str, feeds: list[dict[str, Any]], smtp_port: int
) -> tuple[WebServer, Path]:
    """A server (not started yet) and a config linking to it; ``feeds`` polled, digests mailed."""
    server = WebServer(configure(tmp_path, storage_url))
    config = configure(tmp_path, storage_url, base_url=server.url, feeds=feeds, smtp_port=smtp_port)
    command(config, "poll")
    assert "2 emailed" in command(config, "digest", "--now")
    return server, config
