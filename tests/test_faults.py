"""Faults from the outside, through the real commands: each is named and recorded, the rest goes on.

Already covered elsewhere, and not repeated here: the Fetcher's answer to a cut connection, a
redirect loop, broken redirects, a trickling or silent server, an endless body, a gzip bomb and
corrupt gzip (tests/test_fetch.py); a 404, an HTML page, a trickle, a gzip bomb, a 500 and junk
bytes in one `broadsheet poll` round (tests/test_poll.py); a refused SMTP connection, a 451 at
DATA and a 550 for a recipient for one subscriber (tests/test_delivery.py).

Here, as an admin meets them:

- HTTP, in one `broadsheet poll` round beside good feeds: a connection reset mid-body, a
  Content-Length longer than the body, a shorter one (the rest of the body is left in the
  connection), a header charset contradicting the XML declaration, a redirect loop, redirects to
  unusable URLs, a body that never ends, gzip lies (a plain body labelled gzip, a gzip body
  unlabelled). Each feed's error is stored on it in words that name the fault; the good feeds are
  stored in full.
- SMTP, through `broadsheet digest`: 421/451/452/550/554 replies at RCPT TO or DATA for some
  subscribers, and a refused connection, an unknown host and a silent server for all of the
  email ones. Each failure is recorded on the delivery with its reply; the other subscribers
  get their digest (by email, or as Markdown when the server is out of reach).
- The store: a read-only database file and a truncated one. The command fails with the store's
  error in words (exit 1), never a traceback.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from processes import cli, daily_schedule, run, write_config
from server import RSS_TYPE, FeedServer, Reply, endless, generated_body, redirect, static
from smtp import Sink, SmtpServer, free_port
from sqlalchemy import select

from ingest.store.database import open_store
from ingest.store.schema import deliveries

POLL = {
    "interval": "1d",
    "workers": 1,
    "timeout": "5s",
    "read_timeout": "3s",
    "connect_timeout": "3s",
    "max_bytes": "1MB",
}
LATIN1_FEED = (
    '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>Caf\xe9</title>'
    "<item><title>Cr\xe8me br\xfbl\xe9e</title><guid>latin-1</guid></item></channel></rss>"
).encode("latin-1")


def poll(config: Path) -> dict[str, Any]:
    """`broadsheet poll --json`, which must succeed whatever the feeds did."""
    code, out, err = cli(config, "poll", "--json")
    assert code == 0, out + err
    return json.loads(out)


def health(config: Path) -> dict[str, dict[str, Any]]:
    """`broadsheet feeds --json`, by config URL."""
    code, out, err = cli(config, "feeds", "--json")
    assert code == 0, out + err
    return {row["config_url"]: row for row in json.loads(out)}


def test_http_faults_are_named_on_their_feed_and_the_good_feeds_are_stored(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    body = generated_body(1, 0)
    cut = Reply(200, {"Content-Type": RSS_TYPE, "Content-Length": "5000"}, iter([body[:200]]))
    cut.close = True
    long_length = Reply(200, {"Content-Type": RSS_TYPE, "Content-Length": str(len(body) + 500)})
    long_length.body, long_length.close = iter([body]), True
    short = Reply(200, {"Content-Type": RSS_TYPE, "Content-Length": "150"}, body, close=True)
    faulty = {
        "reset mid-body": (feed_server.route("/f/cut.xml", lambda r: cut), "broke the connection"),
        "length too long": (
            feed_server.route("/f/long.xml", lambda r: long_length),
            "broke the connection",
        ),
        "length too short": (
            feed_server.route("/f/short.xml", lambda r: short),
            "malformed XML",
        ),
        "redirect loop": (
            feed_server.route("/f/loop-a.xml", redirect(feed_server.url("/f/loop-b.xml"))),
            "redirect",
        ),
        "redirect to ftp": (
            feed_server.route("/f/ftp.xml", redirect("ftp://files.example/feed.xml")),
            "ftp",
        ),
        "redirect to nowhere": (
            feed_server.route("/f/nowhere.xml", redirect("http://[::1")),
            "to an invalid URL",
        ),
        "endless body": (feed_server.route("/f/endless.xml", endless()), "larger than"),
        "gzip body unlabelled": (
            feed_server.route("/f/raw-gzip.xml", static(gzip.compress(body))),
            "not a feed",
        ),
    }
    feed_server.route("/f/loop-b.xml", redirect(feed_server.url("/f/loop-a.xml")))
    charset = feed_server.route(
        "/f/charset.xml", static(LATIN1_FEED, content_type="application/rss+xml; charset=utf-8")
    )
    # A plain body labelled gzip is read as it is (inflate.py), as many servers send it.
    fake_gzip = feed_server.route(
        "/f/fake-gzip.xml", static(generated_body(3, 0), headers={"Content-Encoding": "gzip"})
    )
    good = [feed_server.gen_url(n) for n in range(3)] + [fake_gzip]
    urls = [url for url, _ in faulty.values()] + [charset, *good]
    config = write_config(
        tmp_path / "broadsheet.toml",
        urls,
        storage={"url": f"sqlite:///{tmp_path / 'store.db'}"},
        poll=POLL,
    )
    report = poll(config)
    rows = health(config)
    problems = {
        name: rows[url]["last_error"]
        for name, (url, words) in faulty.items()
        if words.lower() not in (rows[url]["last_error"] or "").lower()
    }
    assert problems == {}, problems
    assert report["failed"] == len(faulty)
    assert [rows[url]["entries"] for url in good] == [5, 5, 5, 5]
    assert all(rows[url]["last_error"] is None for url in good)
    # The header and the declaration disagree: the feed is still read, and the disagreement said.
    assert rows[charset]["entries"] == 1 and rows[charset]["last_error"] is None
    assert "encoding" in (rows[charset]["warning"] or "")


# SMTP


class CodedSink(Sink):
    """Refuses by the recipient's local part: rcpt421@ at RCPT TO, data451@ at DATA, and so on."""

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """RCPT TO refused with the code in the address, else accepted."""
        local = address.split("@")[0]
        if local.startswith("rcpt"):
            return f"{local[4:7]} 4.0.0 refused at RCPT for {local}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """DATA refused with the code in the address, else kept."""
        local = envelope.rcpt_tos[0].split("@")[0]
        if local.startswith("data"):
            return f"{local[4:7]} 5.0.0 refused at DATA for {local}"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def coded_smtp() -> Iterator[SmtpServer]:
    """An SMTP server whose replies depend on the recipient."""
    server = SmtpServer()
    server.controller.loop.close()  # built with the plain sink; replaced below
    server.sink = CodedSink()
    server.controller = Controller(server.sink, hostname="127.0.0.1", port=server.port)
    with server:
        yield server


def digest_config(tmp_path: Path, people: dict[str, list[str]], host: str, port: int) -> Path:
    """A config with no feeds and these subscribers (address -> channels), due now."""
    subscribers = [
        {"email": email, "schedule": daily_schedule(), "deliver": channels}
        for email, channels in people.items()
    ]
    return write_config(
        tmp_path / "broadsheet.toml",
        [],
        subscribers,
        storage={"url": f"sqlite:///{tmp_path / 'store.db'}"},
        smtp={"host": host, "port": port, "security": "none", "timeout": "1s"},
        digests={"output_dir": "out", "send_empty": True},
    )


def ledger(config: Path) -> dict[str, Any]:
    """The deliveries table, by subscriber."""
    engine = open_store(f"sqlite:///{config.parent / 'store.db'}")
    with engine.connect() as conn:
        rows = {row.subscriber: row for row in conn.execute(select(deliveries))}
    engine.dispose()
    return rows


def test_smtp_replies_are_recorded_per_subscriber_and_the_others_are_delivered(
    tmp_path: Path, coded_smtp: SmtpServer
) -> None:
    refused = ["rcpt421", "data451", "rcpt452", "rcpt550", "data554"]
    people = {f"{name}@example.org": ["email"] for name in refused}
    people |= {"ann@example.org": ["email"], "bob@example.org": ["email", "markdown"]}
    config = digest_config(tmp_path, people, "127.0.0.1", coded_smtp.port)
    _, out, err = cli(config, "digest", "--json")
    report = json.loads(out)
    assert (report["sent"], report["failed"]) == (2, len(refused)), out + err
    rows = ledger(config)
    for name in refused:
        row = rows[f"{name}@example.org"]
        assert row.state == "failed" and name[-3:] in row.last_error, row.last_error
    assert {m["To"].addresses[0].addr_spec for m in coded_smtp.messages} == {
        "ann@example.org",
        "bob@example.org",
    }
    assert (rows["ann@example.org"].state, rows["bob@example.org"].state) == ("sent", "sent")
    assert len(list((tmp_path / "out").rglob("*.md"))) == 1


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("refused", "refused the connection"),
        ("unknown host", "could not be resolved"),
        ("silent", "did not answer within"),
    ],
)
def test_an_unreachable_smtp_server_is_named_and_markdown_still_arrives(
    tmp_path: Path, fault: str, words: str
) -> None:
    people = {"ann@example.org": ["email"], "bob@example.org": ["markdown"]}
    with silent_server() as quiet:
        host, port = {
            "refused": ("127.0.0.1", free_port()),
            "unknown host": ("smtp.broadsheet.invalid", 25),
            "silent": ("127.0.0.1", quiet),
        }[fault]
        config = digest_config(tmp_path, people, host, port)
        _, out, err = cli(config, "digest", "--json")
    report = json.loads(out)
    assert (report["written"], report["failed"]) == (1, 1), out + err
    rows = ledger(config)
    assert rows["ann@example.org"].state == "failed"
    assert words in rows["ann@example.org"].last_error
    assert rows["bob@example.org"].state == "sent"
    assert len(list((tmp_path / "out").rglob("*.md"))) == 1


# The store


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only, even to root (which ignores file modes): immutable while inside."""
    path.chmod(0o444)
    immutable = os.geteuid() == 0
    if immutable:
        if not shutil.which("chattr"):
            pytest.skip("running as root without chattr: cannot make a file read-only")
        subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_database_file_is_named(tmp_path: Path, feed_server: FeedServer) -> None:
    database = tmp_path / "store.db"
    config = write_config(
        tmp_path / "broadsheet.toml",
        [feed_server.gen_url(0)],
        storage={"url": f"sqlite:///{database}"},
        poll=POLL,
    )
    open_store(f"sqlite:///{database}").dispose()
    with read_only(database):
        done = run(config, "poll")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "read-only" in done.stderr and "cannot write the database file" in done.stderr, (
        done.stderr
    )


def test_a_truncated_database_file_is_named(tmp_path: Path, feed_server: FeedServer) -> None:
    database = tmp_path / "store.db"
    config = write_config(
        tmp_path / "broadsheet.toml",
        [feed_server.gen_url(n) for n in range(20)],
        storage={"url": f"sqlite:///{database}"},
        poll=POLL,
    )
    assert poll(config)["new_entries"] == 100
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = database.stat().st_size // page
    with database.open("r+b") as handle:
        handle.truncate(page * (pages // 2))
    done = run(config, "poll", "--all")
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "Traceback" not in said, said
    assert "store" in said and ("malformed" in said or "I/O error" in said), said


def test_a_content_length_shorter_than_the_body_harms_no_other_feed(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    body = generated_body(1, 0)
    short = feed_server.route(
        "/f/short.xml", static(body, headers={"Content-Type": RSS_TYPE, "Content-Length": "150"})
    )
    after = [feed_server.gen_url(n) for n in range(4)]
    config = write_config(
        tmp_path / "broadsheet.toml",
        [short, *after],
        storage={"url": f"sqlite:///{tmp_path / 'store.db'}"},
        poll=POLL | {"concurrency": 1, "per_host": 1},
    )
    poll(config)
    rows = health(config)
    assert "malformed XML" in (rows[short]["last_error"] or "")
    assert {url: rows[url]["last_error"] for url in after} == dict.fromkeys(after)


def test_a_silent_smtp_server_gets_the_timeout_advice(tmp_path: Path) -> None:
    with silent_server() as port:
        config = digest_config(tmp_path, {"ann@example.org": ["email"]}, "127.0.0.1", port)
        cli(config, "digest", "--json")
    assert "did not answer within 1 s" in ledger(config)["ann@example.org"].last_error
