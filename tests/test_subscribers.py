"""People in charge of their digests, as an admin and a reader see it: the commands, the mail
(aiosmtpd), the ledger, on SQLite and PostgreSQL.

Stories are stored straight into the config's store (the poll is tested elsewhere); digests
go out through `broadsheet digest` or, where a test needs to move the clock across days,
through ``api.deliver`` with ``now``.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from processes import Worker, cli, daily_schedule, wait_for, write_config
from smtp import SmtpServer

from broadsheet import api
from broadsheet.app import App
from ingest.models import Entry
from ingest.store import entries as stored_entries
from ingest.store import feeds as stored_feeds
from ingest.store.deliveries import history

WIRE = "https://wire.example/feed"
SCIENCE = "https://science.example/feed"
ANN = "ann@example.org"
BO = "bo@example.org"


def configure(
    tmp_path: Path, store_url: str, smtp_port: int, people: list[dict[str, Any]] | None = None
) -> Path:
    """Two tagged feeds and Ann and Bo, due now; stories go out by e-mail."""
    everyone = people or [
        {"email": ANN, "schedule": daily_schedule(), "timezone": "UTC"},
        {"email": BO, "schedule": daily_schedule(), "timezone": "UTC"},
    ]
    path = write_config(
        tmp_path / "broadsheet.toml",
        [],
        everyone,
        storage={"url": store_url},
        smtp={"host": "127.0.0.1", "port": smtp_port, "security": "none", "timeout": "5s"},
        digests={"output_dir": "out"},
    )
    feeds = (
        f'[[feeds]]\nurl = "{WIRE}"\ntitle = "Wire"\ntags = ["world"]\n'
        f'[[feeds]]\nurl = "{SCIENCE}"\ntitle = "Science Desk"\ntags = ["science"]\n'
    )
    text = path.read_text()
    at = text.index("[[subscribers]]")
    path.write_text(text[:at] + feeds + text[at:])
    return path


@pytest.fixture
def opened(tmp_path: Path, store_url: str, smtp_server: SmtpServer) -> Iterator[App]:
    application = App.open(configure(tmp_path, store_url, smtp_server.port))
    yield application
    application.close()


def story(app: App, feed: str, identity: str, title: str, when: datetime | None = None) -> None:
    """Store one story as a poll at ``when`` (default: an hour ago) would have."""
    seen = when or datetime.now(UTC) - timedelta(hours=1)
    row = stored_feeds.get(app.engine, feed)
    assert row is not None
    entry = Entry(
        identity=identity,
        title=title,
        link=f"https://stories.example/{identity}",
        published=seen - timedelta(minutes=5),
        excerpt=f"The lead of {title}.",
        content_hash=identity,
    )
    with app.engine.begin() as conn:
        stored_entries.upsert(conn, row.id, [entry], seen)


def received(smtp_server: SmtpServer, email: str) -> list[str]:
    """The plain-text bodies mailed to ``email``, oldest first."""
    return [
        str(m.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        for m in smtp_server.messages
        if email in str(m["To"])
    ]


def rows(app: App, email: str) -> list[dict[str, Any]]:
    return history(app.engine, email)


def digest(app: App, *args: str) -> tuple[int, str, str]:
    return cli(app.settings.path, "digest", *args)


def test_an_unsubscribed_person_gets_nothing_until_they_resubscribe(
    opened: App, smtp_server: SmtpServer
) -> None:
    story(opened, WIRE, "talks", "Harbor talks resume")
    code, out, err = cli(opened.settings.path, "subscribers", "unsubscribe", ANN)
    assert code == 0, out + err
    assert f"{ANN}: unsubscribed on {datetime.now(UTC):%Y-%m-%d} (command)." in out
    assert f"broadsheet subscribers resubscribe {ANN}" in out

    code, out, err = digest(opened, "--now", "--json", "--dry-run")
    assert code == 0, out + err
    assert (json.loads(out)["due"], json.loads(out)["held"]) == (2, 1)
    assert rows(opened, ANN) == [] and smtp_server.messages == []
    code, out, err = digest(opened, "--now", "--json")
    assert code == 0, out + err
    report = json.loads(out)
    assert (report["due"], report["sent"], report["held"]) == (2, 1, 1)
    assert received(smtp_server, ANN) == [] and len(received(smtp_server, BO)) == 1
    (row,) = rows(opened, ANN)
    assert row["state"] == "skipped" and row["note"].startswith("unsubscribed on ")
    assert row["note"].endswith("(command)") and row["message_id"]

    code, out, err = digest(opened, "--now")
    assert code == 0, out + err
    assert f"digest {ANN}: nothing sent: unsubscribed on" in err
    assert "1 held (unsubscribed or paused)" in out
    code, out, _ = cli(opened.settings.path, "subscribers", "unsubscribe", ANN.upper())
    assert code == 0 and "already unsubscribed" in out and "nothing changed" in out

    code, out, err = cli(opened.settings.path, "subscribers", "resubscribe", ANN)
    assert code == 0, out + err
    assert f"{ANN}: subscribed again; next digest " in out
    story(opened, SCIENCE, "comet", "Comet seen over the bay", datetime.now(UTC))
    code, out, err = digest(opened, "--now", "--json")
    assert code == 0 and json.loads(out)["held"] == 0, out + err
    (mail,) = received(smtp_server, ANN)
    # What came while she was away went with the skipped windows: no backlog.
    assert "Comet seen over the bay" in mail and "Harbor talks resume" not in mail
    code, out, _ = cli(opened.settings.path, "subscribers", "resubscribe", ANN)
    assert code == 0 and "is not unsubscribed (active); nothing changed." in out


def test_unknown_addresses_are_named_with_those_configured(opened: App) -> None:
    for command in ("unsubscribe", "resubscribe"):
        code, _, err = cli(opened.settings.path, "subscribers", command, "cy@example.org")
        assert code == 2
        assert f"no subscriber cy@example.org in {opened.settings.path}" in err
        assert f"(configured: {ANN}, {BO})" in err


def test_a_pause_skips_windows_and_resumes_without_the_paused_days(
    opened: App, smtp_server: SmtpServer
) -> None:
    people = {p.key: p for p in opened.settings.subscribers}
    people_cron = people[ANN].cron
    assert people_cron.endswith("* * *")
    day0 = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)

    def at(days: int) -> datetime:
        return day0 + timedelta(days=days)

    story(opened, WIRE, "d0", "Story of day zero", at(0) - timedelta(hours=2))
    api.deliver(opened, subscribers=[ANN], now=at(0))
    assert ["Story of day zero" in m for m in received(smtp_server, ANN)] == [True]

    fields = [("pause", "until"), ("pause_until", f"{at(3):%Y-%m-%d}"), ("email", "on")]
    view = api.set_preferences(opened, ANN, fields, now=at(0))
    assert view.state == "paused" and view.hold.startswith("paused until ")
    for day in (1, 2):
        story(opened, WIRE, f"d{day}", f"Story of paused day {day}", at(day) - timedelta(hours=2))
        report = api.deliver(opened, subscribers=[ANN], now=at(day))
        assert (report.due, report.held, report.sent) == (1, 1, 0)
    assert len(received(smtp_server, ANN)) == 1
    skipped = [r for r in rows(opened, ANN) if r["state"] == "skipped"]
    assert len(skipped) == 2 and all(r["note"] == view.hold for r in skipped)

    story(opened, WIRE, "d3", "Story after the pause", at(3) - timedelta(hours=1))
    report = api.deliver(opened, subscribers=[ANN], now=at(3) + timedelta(minutes=5))
    assert (report.held, report.sent) == (0, 1)
    mail = received(smtp_server, ANN)[-1]
    assert "Story after the pause" in mail and "paused day" not in mail
    assert api.subscriber(opened, ANN, at(3)).state == "active"


def test_choices_change_what_the_next_digest_holds(opened: App, smtp_server: SmtpServer) -> None:
    story(opened, WIRE, "w1", "Harbor talks resume")
    story(opened, WIRE, "w2", "Football final postponed")
    story(opened, SCIENCE, "s1", "Comet seen over the bay")
    story(opened, SCIENCE, "s2", "Football physics explained")
    api.set_preferences(
        opened, ANN, [("tags", "science"), ("exclude", "football"), ("email", "on")]
    )
    api.set_preferences(opened, BO, [("include", "/talks|final/"), ("email", "on")])
    assert [i.entry.title for i in api.preview(opened, ANN).stories] == ["Comet seen over the bay"]
    code, out, err = cli(opened.settings.path, "preview", "-s", ANN, "--format", "text")
    assert code == 0 and "Comet seen over the bay" in out and "Harbor" not in out, err

    code, out, err = digest(opened, "--now")
    assert code == 0, out + err
    (ann,) = received(smtp_server, ANN)
    (bo,) = received(smtp_server, BO)
    assert "Comet seen over the bay" in ann
    assert not any(t in ann for t in ("Harbor talks", "Football"))
    assert "Harbor talks resume" in bo and "Football final postponed" in bo
    assert not any(t in bo for t in ("Comet", "Football physics"))

    api.set_preferences(opened, ANN, [("email", "")])  # web archive only
    story(opened, SCIENCE, "s3", "Tide tables revised", datetime.now(UTC))
    code, out, err = digest(opened, "--now", "--json", "-s", ANN)
    assert code == 0, out + err
    assert json.loads(out)["archived"] == 1
    assert len(received(smtp_server, ANN)) == 1  # nothing more was mailed
    last = rows(opened, ANN)[-1]
    assert (last["state"], last["channels"], last["entries"]) == ("sent", ["archive"], 1)
    (newest, _) = api.archive(opened, ANN)
    assert newest.channels == ("archive",)
    page = api.edition(opened, ANN, newest.id)
    assert page is not None and "Tide tables revised" in page


def test_a_chosen_schedule_and_time_zone_decide_when_the_digest_is_due(opened: App) -> None:
    api.set_preferences(
        opened,
        ANN,
        [
            ("frequency", "weekly"),
            ("weekday", "wed"),
            ("time", "07:00"),
            ("timezone", "Asia/Tokyo"),
            ("email", "on"),
        ],
    )
    wednesday = datetime(2030, 1, 1, 22, 0, tzinfo=UTC)  # Wednesday 2 January, 07:00 in Tokyo
    view = api.subscriber(opened, ANN, wednesday - timedelta(days=2))
    assert view.next_due == wednesday
    assert (view.schedule, view.timezone) == ("weekly wed 07:00", "Asia/Tokyo")
    first = wednesday - timedelta(days=7, hours=-1)
    story(opened, WIRE, "w1", "Harbor talks resume", first - timedelta(hours=1))
    assert api.deliver(opened, subscribers=[ANN], now=first).sent == 1
    for now, due in (
        (wednesday - timedelta(days=1), 0),  # daily in the config, weekly by her choice
        (wednesday - timedelta(minutes=1), 0),
        (wednesday + timedelta(minutes=1), 1),
    ):
        report = api.deliver(opened, subscribers=[ANN], now=now, dry_run=True)
        assert report.due == due, now


def test_subscribers_lists_each_persons_state_as_a_table_and_as_json(
    tmp_path: Path, opened: App
) -> None:
    api.unsubscribe(opened, ANN, via="one-click")
    code, out, err = cli(opened.settings.path, "subscribers", "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [p["email"] for p in listed] == [ANN, BO]
    documented = "email address name state hold schedule timezone deliver tags include exclude"
    documented += " paused_until unsubscribed_at unsubscribed_via last_digest next_due"
    assert set(listed[0]) == set(documented.split())
    ann, bo = listed
    assert (ann["state"], ann["unsubscribed_via"], ann["next_due"]) == (
        "unsubscribed",
        "one-click",
        None,
    )
    assert ann["hold"].startswith("unsubscribed on ")
    assert (bo["state"], bo["hold"], bo["deliver"], bo["timezone"]) == (
        "active",
        "",
        ["email"],
        "UTC",
    )
    assert datetime.fromisoformat(bo["next_due"]) > datetime.now(UTC)
    assert bo["last_digest"] is None

    code, out, err = cli(opened.settings.path, "subscribers")
    assert code == 0, err
    assert "unsubscribed: unsubscribed on" in out and "(UTC)" in out
    assert out.rstrip().endswith("2 subscribers: 1 active, 1 unsubscribed.")


def test_someone_removed_from_the_config_keeps_their_row_and_gets_nothing(
    tmp_path: Path, store_url: str, smtp_server: SmtpServer
) -> None:
    path = configure(tmp_path, store_url, smtp_server.port)
    application = App.open(path)
    try:
        story(application, WIRE, "w1", "Harbor talks resume")
    finally:
        application.close()
    code, out, err = cli(path, "digest", "--now")
    assert code == 0 and len(smtp_server.messages) == 2, out + err

    path.write_text(path.read_text().replace(BO, "cy@example.org"))
    application = App.open(path)
    try:
        story(application, WIRE, "w2", "Port strike ends", datetime.now(UTC))
    finally:
        application.close()
    smtp_server.sink.reset()
    code, out, err = cli(path, "digest", "--now", "--json")
    assert code == 0, out + err
    assert {str(m["To"]) for m in smtp_server.messages} == {ANN, "cy@example.org"}
    code, out, err = cli(path, "subscribers", "--json")
    listed = {p["email"]: p for p in json.loads(out)}
    assert list(listed) == [ANN, "cy@example.org", BO]
    assert listed[BO]["state"] == "not in config" and listed[BO]["next_due"] is None
    assert listed[BO]["last_digest"] is not None  # the history is kept
    code, out, err = cli(path, "subscribers")
    assert "not in config" in out and out.rstrip().endswith("2 active, 1 not in config.")


def test_the_worker_sends_nothing_to_an_unsubscribed_person(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    path = write_config(
        tmp_path / "broadsheet.toml",
        [],
        [{"email": ANN, "schedule": daily_schedule()}, {"email": BO, "schedule": daily_schedule()}],
        storage={"url": f"sqlite:///{tmp_path / 'store.db'}"},
        smtp={"host": "127.0.0.1", "port": smtp_server.port, "security": "none"},
        digests={"output_dir": "out", "send_empty": True},
        worker={"poll_every": "1s", "shutdown_timeout": "5s"},
    )
    code, out, err = cli(path, "subscribers", "unsubscribe", ANN)
    assert code == 0, out + err
    with Worker(path, tmp_path / "worker.log") as worker:
        worker.wait_for_log(f"digest {ANN}: nothing sent: unsubscribed on ")
        wait_for(lambda: smtp_server.messages, "Bo's digest")
        worker.send(signal.SIGTERM)
        assert worker.wait() == 0
    assert [str(m["To"]) for m in smtp_server.messages] == [BO]
