"""Credentials never reach a screen or a log: config errors, store errors, `check`, JSON, logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broadsheet import logs
from broadsheet.cli import app
from ingest.errors import StoreError
from ingest.redact import mask_text, mask_url
from ingest.store.database import open_store

SECRET = "hunter2-s3cret"
runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def config(
    tmp_path: Path, storage: str | None = None, feed: str = "https://example.org/feed"
) -> Path:
    path = tmp_path / "broadsheet.toml"
    head = f'[storage]\nurl = "{storage}"\n\n' if storage else ""
    head += "[poll]\nallow_private = true\n\n"  # feeds on 127.0.0.1
    path.write_text(f'{head}[[feeds]]\nurl = "{feed}"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"postgresql+psycopg://ann:{SECRET}@db:5432/news",
            "postgresql+psycopg://ann:***@db:5432/news",
        ),
        (
            f"postgresql://db/news?password={SECRET}&sslmode=require",
            "postgresql://db/news?password=***&sslmode=require",
        ),
        (f"postgresql://ann:pa/{SECRET}@db/news", "postgresql://ann:***@db/news"),
        (f"mysql://u:p@{SECRET}@h/db", "mysql://u:***@h/db"),
        (f"https://h/feed?api_key={SECRET}&page=2#top", "https://h/feed?api_key=***&page=2#top"),
        (
            f"https://h/feed?Access-Token={SECRET};pwd={SECRET}",
            "https://h/feed?Access-Token=***;pwd=***",
        ),
        (f"postgresql://db/news?sslpassword={SECRET}", "postgresql://db/news?sslpassword=***"),
        ("https://example.org:8443/@user.rss", "https://example.org:8443/@user.rss"),
        ("postgresql+psycopg://ann@db/news", "postgresql+psycopg://ann@db/news"),
        ("sqlite:///data/broadsheet.db", "sqlite:///data/broadsheet.db"),
    ],
)
def test_mask_url_hides_passwords_and_secret_parameters_only(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert mask_text(f"at '{url}': failed") == f"at '{shown}': failed"


def test_mask_text_hides_a_dsn_password_pair() -> None:
    text = f"invalid dsn: host=db password='{SECRET} x' user=ann token={SECRET}"
    assert mask_text(text) == "invalid dsn: host=db password=*** user=ann token=***"


def test_check_never_prints_the_database_password_from_the_environment(tmp_path: Path) -> None:
    path = config(tmp_path)
    url = f"postgresql+psycopg://ann:{SECRET}@127.0.0.1:1/news?password={SECRET}"
    code, output = cli("check", "--config", str(path), env={"BROADSHEET_DATABASE_URL": url})
    assert code == 0, output
    assert "storage      postgresql+psycopg://ann:***@127.0.0.1:1/news?password=***" in output
    assert SECRET not in output


@pytest.mark.parametrize("command", [["check"], ["poll"], ["feeds"], ["digest", "--dry-run"]])
def test_an_unsupported_storage_scheme_is_refused_without_its_password(
    tmp_path: Path, command: list[str]
) -> None:
    path = config(tmp_path, f"mysql://ann:{SECRET}@db/news?password={SECRET}")
    code, output = cli(*command, "--config", str(path))
    assert code == 2
    assert "storage.url: expected sqlite:///PATH or postgresql+psycopg://" in output
    assert "mysql://ann:***@db/news?password=***" in output
    assert SECRET not in output


def test_an_unparseable_storage_url_is_refused_by_check(tmp_path: Path) -> None:
    path = config(tmp_path, f"postgresql://ann:{SECRET}@db:notaport/news")
    code, output = cli("check", "--config", str(path))
    assert code == 2 and "storage.url:" in output and "not a database URL" in output
    assert SECRET not in output


def test_an_unreachable_postgresql_never_shows_its_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://ann:{SECRET}@127.0.0.1:1/news?password={SECRET}&sslmode=disable"
    with pytest.raises(StoreError, match="cannot open the store") as caught:
        open_store(url)
    assert SECRET not in str(caught.value)
    assert "password=***" in str(caught.value)
    path = config(tmp_path, url)
    for command in (["poll"], ["poll", "--json"], ["feeds", "--json"], ["digest", "--json"]):
        code, output = cli(*command, "--config", str(path))
        assert code == 1 and "cannot open the store" in output, output
        assert SECRET not in output


def test_json_output_masks_credentials_in_feed_urls_and_errors(tmp_path: Path) -> None:
    feed = f"http://ann:{SECRET}@127.0.0.1:1/feed?token={SECRET}"
    path = config(tmp_path, feed=feed)
    code, output = cli("poll", "--json", "--config", str(path))
    assert code == 0 and SECRET not in output
    code, output = cli("feeds", "--json", "--config", str(path))
    assert code == 0, output
    (row,) = json.loads(output)
    assert row["url"] == "http://ann:***@127.0.0.1:1/feed?token=***"
    assert row["last_error"] and SECRET not in output
    code, output = cli("poll", "--all", "--config", str(path))
    assert "connection refused" in output and SECRET not in output
    code, output = cli("feeds", "--config", str(path))
    assert code == 0 and "1 feed, 1 with errors." in output and SECRET not in output


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_worker_logs_mask_credentials(log_format: str, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(log_format)
    try:
        log = logging.getLogger("broadsheet.worker")
        url = f"postgresql://ann:{SECRET}@db/news?password={SECRET}"
        log.warning("feed %s: %s", f"https://h/f?api_key={SECRET}", "timed out")
        log.info("round", extra={"store": url, "round": {"errors": [url]}})
        try:
            raise RuntimeError(f"cannot reach {url}")
        except RuntimeError:
            log.exception("poll round failed")
    finally:
        logging.getLogger().handlers[:] = []
    written = capsys.readouterr().err
    assert "api_key=***" in written and "ann:***@db" in written
    assert SECRET not in written
