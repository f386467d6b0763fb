"""The config an admin edits: the shipped file, defaults, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from broadsheet import config
from broadsheet.cli import app
from broadsheet.units import format_duration, parse_duration, parse_size
from ingest.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "config" / "broadsheet.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broadsheet.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_is_valid_and_lists_real_news_feeds() -> None:
    settings = config.load(SHIPPED)
    urls = [feed.url for feed in settings.feeds]
    assert len(urls) >= 8
    assert any("antiwar.com" in url for url in urls)
    assert {"world", "tech", "science", "wire"} <= {t for f in settings.feeds for t in f.tags}
    assert settings.storage_url == f"sqlite:///{REPO / 'config' / 'data' / 'broadsheet.db'}"
    assert settings.digests.output_dir == REPO / "config" / "out"
    assert settings.subscribers[0].deliver == ("markdown",)


def test_defaults_when_only_a_feed_is_given(tmp_path: Path) -> None:
    path = write(tmp_path, '[[feeds]]\nurl = "https://example.org/feed"\n')
    settings = config.load(path)
    assert settings.poll.interval == 1800
    assert settings.poll.per_host == 2
    assert settings.poll.max_bytes == 10_000_000
    assert settings.poll.user_agent.startswith("Broadsheet/")
    assert settings.storage_url == f"sqlite:///{tmp_path / 'data' / 'broadsheet.db'}"
    assert settings.feeds[0].enabled and settings.feeds[0].interval is None


def test_every_problem_is_reported_at_once_with_file_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[poll]
interval = "soon"
concurrency = 0
per_host = "two"
per_hots = 2

[[feeds]]
url = "https://example.org/feed"

[[feeds]]
url = "ftp://example.org/feed"
interval = "weekly"

[[feeds]]
title = "no url"
enabled = "yes"

[[feeds]]
url = "https://example.org/other"
tags = "world"

[[subscribers]]
email = "not-an-address"
schedule = "daily 25:00"

[[subscribers]]
email = "ann@example.org"
timezone = "Mars/Olympus"
schedule = "hourly"
deliver = ["pigeon"]
exclude = ["/[unclosed/"]
""",
    )
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    problems = caught.value.problems
    text = "\n".join(problems)
    assert all(problem.startswith(f"{path}: ") for problem in problems)
    for key in (
        "poll.interval",
        "poll.concurrency",
        "poll.per_host",
        "poll.per_hots",
        "feeds[1].url",
        "feeds[1].interval",  # checked although the URL was wrong
        "feeds[2]",
        "feeds[2].enabled",
        "feeds[3].tags",
        "subscribers[0].email",
        "subscribers[0].schedule",  # checked although the address was wrong
        "subscribers[1].timezone",
        "subscribers[1].schedule",
        "subscribers[1].deliver",
        "subscribers[1].exclude[0]",
    ):
        assert f": {key}: " in text, key
    assert "unknown key (a typo?)" in text
    assert "poll.per_host: expected a whole number, got a string ('two')" in text
    assert "http:// or https://" in text


def test_check_command_prints_a_summary_and_exits_2_on_problems(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(app, ["check", "--config", str(SHIPPED)])
    assert good.exit_code == 0, good.output
    assert "OK" in good.output and "feeds        11" in good.output
    bad = write(tmp_path, '[pol]\ninterval = "1h"\n')
    result = runner.invoke(app, ["check", "--config", str(bad)])
    assert result.exit_code == 2
    assert "pol: unknown key" in result.output


def test_missing_file_and_broken_toml_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        config.load(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(write(tmp_path, "[poll\n"))


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[[feeds]]\nurl = "https://example.org/a"\n')
    monkeypatch.setenv("BROADSHEET_CONFIG", str(path))
    assert config.load().feeds[0].url == "https://example.org/a"


def test_units() -> None:
    assert parse_duration("20s") == 20
    assert parse_duration("30m") == 1800
    assert parse_duration("1d") == 86400
    assert parse_size("10MB") == 10_000_000
    assert parse_size("512KiB") == 524_288
    assert format_duration(3600) == "1h"
    with pytest.raises(ValueError, match="duration"):
        parse_duration("ten minutes")


def test_alerts_are_off_by_default_and_checked_when_set(tmp_path: Path) -> None:
    feed = '[[feeds]]\nurl = "https://example.org/feed"\n'
    settings = config.load(write(tmp_path, feed))
    assert settings.alerts.email == () and not settings.alerts.enabled
    assert (settings.alerts.after, settings.alerts.quiet) == (21600.0, None)
    good = '[alerts]\nemail = ["Ops@example.org", "ann@example.org"]\nafter = "2h"\nquiet = "14d"\n'
    settings = config.load(write(tmp_path, feed + good))
    checked = CliRunner().invoke(app, ["check", "--config", str(write(tmp_path, feed + good))])
    assert checked.exit_code == 0, checked.output
    summary = "  alerts       to Ops@example.org, ann@example.org: failing for 2h, quiet for 14d"
    assert summary in checked.output
    assert settings.alerts.email == ("Ops@example.org", "ann@example.org")
    assert (settings.alerts.after, settings.alerts.quiet) == (7200.0, 14 * 86400.0)
    bad = (
        '[alerts]\nemail = ["ops@example.org", "nobody", "OPS@example.org"]\nafter = "10s"\n'
        'quiet = "soon"\nwhen = "now"\n'
    )
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, feed + bad))
    text = "\n".join(caught.value.problems)
    assert "alerts.email[1]: expected an address like \"ann@example.org\", got 'nobody'" in text
    assert "alerts.email[2]: OPS@example.org is listed twice" in text
    assert "alerts.after: expected \"1m\" or longer, got '10s'" in text
    assert "alerts.quiet: " in text and "alerts.when: unknown key (a typo?)" in text
