"""`broadsheet alerts` and `feeds --failing` as an admin meets them: real feeds, real SMTP, real stores.

Time passes in these tests by moving the store's clock marks back ("the failures began seven
hours ago"), since the feeds fail and recover for real but a test cannot wait hours.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from processes import Worker, cli, start, write_config
from server import SHARED, FeedServer
from smtp import SmtpServer, free_port
from sqlalchemy import select, update

from ingest.store.alerts import AlertRow, announced
from ingest.store.database import open_store
from ingest.store.schema import entries, feeds

OPS = "ops@example.org"
FEED_BODY = (SHARED / "fixtures" / "newswire.rss").read_bytes()
UNAVAILABLE = "HTTP 503 Service Unavailable: the server asks us to wait"


def alert_config(
    tmp_path: Path, urls: list[str], port: int, store: str = "", **alerts: Any
) -> Path:
    """A config with these feeds, [alerts] to OPS (after 6h) and SMTP on ``port``."""
    return write_config(
        tmp_path / "broadsheet.toml",
        urls,
        storage={"url": store or f"sqlite:///{tmp_path / 'store.db'}"},
        smtp={"host": "127.0.0.1", "port": port, "security": "none", "timeout": "5s"},
        alerts={"email": [OPS], "after": "6h"} | alerts,
    )


def age(store: str, hours: float, *, entries_too: bool = False) -> None:
    """Move the feeds' failures and successes (and their entries) ``hours`` into the past."""
    engine = open_store(store)
    back = timedelta(hours=hours)
    tables = [(feeds, ("failing_since", "last_success_at", "created_at"))]
    tables += [(entries, ("first_seen_at",))] if entries_too else []
    with engine.begin() as conn:
        for table, names in tables:
            for row in conn.execute(select(table.c.id, *(table.c[name] for name in names))).all():
                moved = {name: row._mapping[name] - back for name in names if row._mapping[name]}
                conn.execute(update(table).where(table.c.id == row.id).values(moved))
    engine.dispose()


def ledger(store: str) -> list[AlertRow]:
    """The alerts ledger's rows, read through a store opened and closed for it."""
    engine = open_store(store)
    try:
        return announced(engine)
    finally:
        engine.dispose()


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def down_for_seven_hours(tmp_path: Path, feed_server: FeedServer, port: int) -> tuple[str, Path]:
    """A feed answering 500 since seven hours ago, polled, and a config mailing to ``port``."""
    url = feed_server.route("/down.xml", status=500)
    config = alert_config(tmp_path, [url], port)
    code, out, err = cli(config, "poll", "--all")
    assert code == 0, out + err
    age(f"sqlite:///{tmp_path / 'store.db'}", 7)
    return url, config


def poll_and_alert(config: Path) -> tuple[int, str, str]:
    code, out, err = cli(config, "poll", "--all")
    assert code == 0, out + err
    return cli(config, "alerts")


def test_a_failing_feed_is_told_once_per_distinct_error_and_once_when_it_recovers(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    url = feed_server.route("/flaky.xml", status=503, headers={"Retry-After": "120"})
    config = alert_config(tmp_path, [url], smtp_server.port)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    code, out, _ = poll_and_alert(config)
    assert code == 0 and out.startswith("0 alerts due"), out
    assert smtp_server.messages == []

    age(store, 7)  # the failures began seven hours ago
    code, out, _ = cli(config, "alerts")
    assert code == 0 and out.startswith("1 alert due: 1 message sent, 0 failed"), out
    (first,) = smtp_server.messages
    assert first["To"] == OPS and first["Subject"] == "The Broadsheet: 1 feed failing"
    assert first["List-Id"] is None and first["Auto-Submitted"] == "auto-generated"
    assert f"{url}: failing since " in text_of(first) and "(7 h): " + UNAVAILABLE in text_of(first)

    # The same failure, the server now asking for another wait: no new mail.
    feed_server.route("/flaky.xml", status=503, headers={"Retry-After": "3600"})
    code, out, _ = poll_and_alert(config)
    assert code == 0 and out.startswith("0 alerts due"), out
    assert len(smtp_server.messages) == 1

    feed_server.route("/flaky.xml", status=404)  # failing differently: one mail
    code, out, _ = poll_and_alert(config)
    assert out.startswith("1 alert due: 1 message sent"), out
    second = smtp_server.messages[1]
    assert "HTTP 404 Not Found: nothing at this URL any more" in text_of(second)
    assert "(7 h)" in text_of(second)  # the same spell, still counted from its start

    feed_server.route("/flaky.xml", body=FEED_BODY, headers={"Content-Type": "application/rss+xml"})
    code, out, _ = poll_and_alert(config)  # recovered: one mail
    assert out.startswith("1 alert due: 1 message sent"), out
    third = smtp_server.messages[2]
    assert third["Subject"] == "The Broadsheet: 1 feed recovered"
    assert "- Northwind Wire recovered after 7 h (failing since " in text_of(third)

    code, out, _ = poll_and_alert(config)
    assert out.startswith("0 alerts due") and len(smtp_server.messages) == 3
    ids = {message["Message-ID"] for message in smtp_server.messages}
    assert len(ids) == 3
    rows = ledger(store)
    assert [(row.kind, row.state) for row in rows] == [
        ("failing", "sent"),
        ("failing", "sent"),
        ("recovered", "sent"),
    ]


def test_two_processes_running_alerts_at_once_send_each_alert_once(
    tmp_path: Path, store_url: str, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    urls = [feed_server.route(f"/down-{n}.xml", status=500) for n in range(3)]
    config = alert_config(tmp_path, urls, smtp_server.port, store=store_url)
    code, out, err = cli(config, "poll", "--all")
    assert code == 0, out + err
    age(store_url, 7)
    runs = [start(config, "alerts", "--json") for _ in range(3)]
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], results
    told = [json.loads(out)["alerts"] for out, _ in results]
    assert sorted(len(alerts) for alerts in told) in ([0, 0, 3], [0, 1, 2], [1, 1, 1], [0, 0, 0])
    assert sum(len(alerts) for alerts in told) == 3
    assert sorted(alert["feed"] for alerts in told for alert in alerts) == sorted(urls)
    received = [text_of(message) for message in smtp_server.messages]
    assert sum(text.count("failing since") for text in received) == 3
    assert all(row.state == "sent" for row in ledger(store_url))


def test_with_the_mail_server_down_alerts_wait_and_the_next_run_sends_them(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    url, down = down_for_seven_hours(tmp_path, feed_server, free_port())
    store = f"sqlite:///{tmp_path / 'store.db'}"
    code, out, err = cli(down, "alerts")
    assert code == 3, out + err
    assert out.startswith("1 alert due: 0 messages sent, 1 failed")
    assert f"  {OPS}: SMTP server 127.0.0.1:" in err and "refused the connection" in err
    assert "the alerts are sent again by the next run" in err
    (row,) = ledger(store)
    assert row.state == "failed" and row.message_id

    up = alert_config(tmp_path, [url], smtp_server.port)
    code, out, err = cli(up, "alerts")
    assert code == 0 and out.startswith("1 alert due: 1 message sent"), out + err
    (message,) = smtp_server.messages
    assert message["Message-ID"] == row.message_id  # the same batch, the same Message-ID
    assert "HTTP 500 Internal Server Error" in text_of(message)
    code, out, _ = cli(up, "alerts")
    assert out.startswith("0 alerts due") and len(smtp_server.messages) == 1


def test_a_dry_run_says_what_would_be_sent_and_records_nothing(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    url, config = down_for_seven_hours(tmp_path, feed_server, smtp_server.port)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    code, out, err = cli(config, "alerts", "--dry-run")
    assert code == 0, out + err
    assert out.startswith("dry run, nothing sent or recorded: 1 alert due")
    assert f"  {OPS}: failing {url} ({url}) since " in out
    code, out, _ = cli(config, "alerts", "--dry-run", "--json")
    report = json.loads(out)
    assert report["dry_run"] is True and report["sent"] == 0
    (alert,) = report["alerts"]
    assert (alert["recipient"], alert["kind"], alert["feed"]) == (OPS, "failing", url)
    assert smtp_server.messages == [] and ledger(store) == []


def test_alerts_without_an_address_say_how_to_set_one(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = write_config(
        tmp_path / "broadsheet.toml", [], storage={"url": f"sqlite:///{tmp_path / 's.db'}"}
    )
    code, out, err = cli(config, "alerts")
    assert code == 1 and out == ""
    assert "no alerts are sent: [alerts] email is empty in " in err
    assert 'add email = ["ops@example.org"] to an [alerts] table' in err


def test_feeds_failing_lists_the_failing_and_quiet_feeds_with_reason_and_since(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    down = feed_server.route("/down.xml", status=500)
    calm = feed_server.route("/calm.xml", body=FEED_BODY)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    config = alert_config(tmp_path, [down, calm], smtp_server.port, quiet="14d")
    cli(config, "poll", "--all")
    code, out, _ = cli(config, "feeds", "--failing")
    assert code == 0 and "0 failing for longer than 6h ([alerts] after), 0 quiet" in out
    age(store, 20 * 24, entries_too=True)
    cli(config, "poll", "--all")  # the calm feed works, with nothing new in 20 days
    code, out, err = cli(config, "feeds", "--failing")
    assert code == 0, out + err
    assert "failing: HTTP 500 Internal Server Error" in out and "quiet" in out
    assert "1 failing for longer than 6h ([alerts] after), 1 quiet for longer than 14d." in out
    code, out, _ = cli(config, "feeds", "--failing", "--json")
    found = {row["url"]: row for row in json.loads(out)}
    assert found[down]["reason"] == "failing" and found[calm]["reason"] == "quiet"
    assert found[down]["detail"].startswith("HTTP 500 Internal Server Error")
    since = datetime.fromisoformat(found[calm]["since"])
    assert datetime.now(UTC) - since > timedelta(days=19)
    assert found[calm]["last_success"] is not None


def test_feeds_failing_says_when_quiet_feeds_are_not_looked_for(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    config = write_config(
        tmp_path / "broadsheet.toml", [], storage={"url": f"sqlite:///{tmp_path / 's.db'}"}
    )
    code, out, _ = cli(config, "feeds", "--failing")
    assert code == 0
    assert "0 failing for longer than 6h ([alerts] after); quiet feeds are not looked for" in out


@pytest.mark.timeout(300)
def test_the_worker_mails_alerts_after_its_poll_round(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    _, config = down_for_seven_hours(tmp_path, feed_server, smtp_server.port)
    with Worker(config, tmp_path / "worker.log") as worker:
        worker.wait_for_log("alerts: 1 alert due: 1 message sent")
        (message,) = smtp_server.messages
        assert message["Subject"] == "The Broadsheet: 1 feed failing"
