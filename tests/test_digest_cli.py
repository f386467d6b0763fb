"""`broadsheet digest` and `preview` as cron and an admin see them: the lines and exit statuses."""

from __future__ import annotations

import json
import re
from pathlib import Path

from processes import cli, daily_schedule, write_config
from smtp import SmtpServer, free_port

from ingest.store.database import open_store
from ingest.store.deliveries import history

BUILTIN = Path(__file__).parents[1] / "digests" / "templates" / "digest.txt"


def digest_config(tmp_path: Path, people: list[str], port: int, **digests: object) -> Path:
    """No feeds (empty digests are sent) and these subscribers, due now."""
    return write_config(
        tmp_path / "broadsheet.toml",
        [],
        [{"email": email, "schedule": daily_schedule()} for email in people],
        storage={"url": f"sqlite:///{tmp_path / 'store.db'}"},
        smtp={"host": "127.0.0.1", "port": port, "security": "none", "timeout": "2s"},
        digests={"output_dir": "out", "send_empty": True} | digests,
    )


def states(tmp_path: Path) -> dict[str, tuple[str, str | None]]:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    rows = {row["subscriber"]: (row["state"], row["last_error"]) for row in history(engine)}
    engine.dispose()
    return rows


def test_a_digest_that_cannot_be_made_fails_alone_and_preview_says_why(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    fails = '{% if digest.subscriber.email == "bob@example.org" %}{{ 1 // 0 }}{% endif %}'
    (templates / "digest.txt").write_text(fails + BUILTIN.read_text())
    people = ["ann@example.org", "bob@example.org", "cy@example.org"]
    config = digest_config(tmp_path, people, smtp_server.port, templates="templates")
    code, out, err = cli(config, "digest")
    assert code == 3, out + err
    assert "3 digests due: 2 emailed, 0 written, 0 empty (skipped), 1 failed" in out
    why = "the digest could not be made: ZeroDivisionError: integer division or modulo by zero"
    assert f"  bob@example.org: {why}" in err
    assert {m["To"] for m in smtp_server.messages} == {"ann@example.org", "cy@example.org"}
    found = states(tmp_path)
    assert found["bob@example.org"][0] == "failed" and why in str(found["bob@example.org"][1])
    assert found["ann@example.org"][0] == found["cy@example.org"][0] == "sent"

    code, out, err = cli(config, "preview", "-s", "bob@example.org", "--format", "text")
    assert code == 1 and out == ""
    assert err.startswith(f"error: {why}")
    code, out, err = cli(config, "preview", "-s", "ann@example.org", "--format", "text")
    assert code == 0 and "The Broadsheet" in out


def test_cron_sees_exit_3_on_a_failure_then_the_retry_waiting_and_now_sends_it(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = digest_config(tmp_path, ["ann@example.org"], free_port())
    code, out, err = cli(config, "digest")
    assert code == 3, out + err
    assert "1 failed" in out and "ann@example.org: " in err and "refused the connection" in err

    waiting = re.compile(
        r"  ann@example\.org: waiting to retry after \d{4}-\d\d-\d\d \d\d:\d\d UTC "
        r"\(attempt 1 failed: .*refused the connection"
    )
    for args in ((), ("--dry-run",)):
        code, out, err = cli(config, "digest", *args)
        assert code == 0, out + err
        assert out.rstrip().endswith("0 failed, 1 waiting to retry"), out
        assert waiting.search(err), err
    code, out, _ = cli(config, "digest", "--json")
    assert code == 0 and json.loads(out)["retrying"] == 1

    config = digest_config(tmp_path, ["ann@example.org"], smtp_server.port)
    code, out, err = cli(config, "digest", "--now")
    assert code == 0, out + err
    assert "1 digest due: 1 emailed" in out
    assert len(smtp_server.messages) == 1 and states(tmp_path)["ann@example.org"][0] == "sent"
