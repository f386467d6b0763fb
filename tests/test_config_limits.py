"""`check` is the gate: what it accepts must run. Header text, durations, sizes, URLs, regexes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from server import FeedServer
from typer.testing import CliRunner

from broadsheet import config
from broadsheet.cli import app
from digests.ledger import retry_delay
from digests.settings import DigestSettings
from ingest.errors import ConfigError

runner = CliRunner()
FEED = '[[feeds]]\nurl = "https://example.org/feed"\n'
BREAKS = ["\r", "\n", "\r\n", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"]


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broadsheet.toml"
    path.write_text(text, encoding="utf-8")
    return path


def toml(value: str) -> str:
    """``value`` as a TOML basic string, every character outside printable ASCII escaped."""
    escaped = "".join(
        c if 32 <= ord(c) < 127 and c not in '"\\' else f"\\U{ord(c):08X}" for c in value
    )
    return f'"{escaped}"'


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, text))
    return "\n".join(caught.value.problems)


HEADER_KEYS = {
    "subscribers[0].name": (
        '[[subscribers]]\nemail = "ann@example.org"\nname = {}\n',
        "Ann {} Lee",
    ),
    "digests.title": ("[digests]\ntitle = {}\n", "Morning {} News"),
    "smtp.from": ("[smtp]\nfrom = {}\n", "News {} <news@example.org>"),
    "smtp.reply_to": ("[smtp]\nreply_to = {}\n", "Desk {} <desk@example.org>"),
    "digests.unsubscribe": ("[digests]\nunsubscribe = {}\n", "Off {} <off@example.org>"),
    "digests.list_id": ("[digests]\nlist_id = {}\n", "news{}.example.org"),
    "subscribers[0].email": ("[[subscribers]]\nemail = {}\n", "ann{}@example.org"),
}


@pytest.mark.parametrize("key", sorted(HEADER_KEYS))
@pytest.mark.parametrize("character", BREAKS)
def test_header_values_with_line_breaks_or_control_characters_are_refused(
    tmp_path: Path, key: str, character: str
) -> None:
    table, value = HEADER_KEYS[key]
    text = problems(tmp_path, FEED + table.format(toml(value.format(character))))
    assert f": {key}: " in text, text


@pytest.mark.parametrize("key", sorted(HEADER_KEYS))
def test_header_values_without_control_characters_still_load(tmp_path: Path, key: str) -> None:
    table, value = HEADER_KEYS[key]
    config.load(write(tmp_path, FEED + table.format(toml(value.format("-")))))


@pytest.mark.parametrize(
    "value",
    [
        "digest",
        "news letter.example.org",
        "<news.example.org>",
        "news..example.org",
        ".a.b",
        "a" * 300 + ".org",
    ],
)
def test_a_list_id_must_be_a_dot_atom(tmp_path: Path, value: str) -> None:
    text = problems(tmp_path, FEED + f"[digests]\nlist_id = {toml(value)}\n")
    assert "digests.list_id: expected a List-Id such as" in text


@pytest.mark.parametrize(
    "address", ["a,b@example.org", "jörg@example.de", "a;b@example.org", "a@b@example.org"]
)
def test_subscriber_addresses_a_mail_header_cannot_carry_are_refused(
    tmp_path: Path, address: str
) -> None:
    text = problems(tmp_path, FEED + f"[[subscribers]]\nemail = {toml(address)}\n")
    assert "subscribers[0].email: expected an address" in text


DURATION_KEYS = {
    "poll.interval": "[poll]\ninterval = {}\n",
    "poll.max_backoff": "[poll]\nmax_backoff = {}\n",
    "feeds[1].interval": '[[feeds]]\nurl = "https://example.org/b"\ninterval = {}\n',
    "smtp.timeout": "[smtp]\ntimeout = {}\n",
    "digests.retry_base": "[digests]\nretry_base = {}\n",
    "digests.retry_max": "[digests]\nretry_max = {}\n",
    "worker.poll_every": "[worker]\npoll_every = {}\n",
    "worker.healthy_within": "[worker]\nhealthy_within = {}\n",
}


@pytest.mark.parametrize("key", sorted(DURATION_KEYS))
def test_durations_are_limited_to_ten_years(tmp_path: Path, key: str) -> None:
    table = DURATION_KEYS[key]
    for huge in ("99999999999999999999d", "3651d", "9999999999w"):
        text = problems(tmp_path, FEED + table.format(toml(huge)))
        assert f": {key}: expected a duration of at most ten years (3650d)" in text
    config.load(write(tmp_path, FEED + table.format('"3650d"')))


@pytest.mark.parametrize("huge", ['"99999999999999999999GB"', '"1.5GiB"', "9223372036854775807"])
def test_sizes_are_limited_to_a_gibibyte(tmp_path: Path, huge: str) -> None:
    text = problems(tmp_path, FEED + f"[poll]\nmax_bytes = {huge}\n")
    assert "poll.max_bytes: expected a size of at most 1GiB" in text
    config.load(write(tmp_path, FEED + '[poll]\nmax_bytes = "1GiB"\n'))


COUNT_KEYS = {
    "poll.workers": ("[poll]\nworkers = {}\n", 64),
    "poll.concurrency": ("[poll]\nconcurrency = {}\n", 1000),
    "poll.per_host": ("[poll]\nper_host = {}\n", 100),
    "subscribers[0].max_items": (
        '[[subscribers]]\nemail = "a@example.org"\nmax_items = {}\n',
        10_000,
    ),
    "subscribers[0].max_per_feed": (
        '[[subscribers]]\nemail = "a@example.org"\nmax_per_feed = {}\n',
        10_000,
    ),
}


@pytest.mark.parametrize("key", sorted(COUNT_KEYS))
def test_counts_are_bounded_so_what_passes_can_run(tmp_path: Path, key: str) -> None:
    table, most = COUNT_KEYS[key]
    for huge in (most + 1, 10**18):
        text = problems(tmp_path, FEED + table.format(huge))
        assert f": {key}: expected " in text and f"to {most:,}, got {huge}" in text, text
    config.load(write(tmp_path, FEED + table.format(most)))


def test_a_digest_failing_for_years_still_gets_a_retry_time() -> None:
    settings = DigestSettings(retry_base=300.0, retry_max=21600.0)
    assert retry_delay(5000, settings) == timedelta(seconds=21600)


BAD_URLS = [
    "http://",
    "http://:80/feed",
    "http://ann@/feed",
    "https://exa mple.org/",
    "http://h:99999/",
    "http://h:x/",
    "https://h/\x00",
    "mailto:a@b.c",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_feed_urls_without_a_usable_host_are_refused(tmp_path: Path, url: str) -> None:
    text = problems(tmp_path, f"[[feeds]]\nurl = {toml(url)}\n")
    assert "feeds[0].url: expected" in text


def test_a_time_zone_name_too_long_for_a_file_name_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    text = problems(
        tmp_path, FEED + f'[[subscribers]]\nemail = "a@example.org"\ntimezone = "{"a" * 5000}"\n'
    )
    assert "subscribers[0].timezone: expected an IANA time zone" in text


def test_import_skips_urls_the_config_would_refuse(tmp_path: Path) -> None:
    path = write(tmp_path, FEED)
    outlines = "".join(
        f'<outline type="rss" text="t{n}" xmlUrl="{url}"/>'
        for n, url in enumerate(
            ["http://", "http://:80/feed", "https://good.example.org/rss", "http://h:99999/"]
        )
    )
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        f'<?xml version="1.0"?><opml version="2.0"><head/><body>{outlines}</body></opml>'
    )
    code, output = cli("feeds", "import", str(opml), "--config", str(path))
    assert code == 0, output
    assert "skipped  http://: expected an http:// or https:// URL with a host" in output
    assert "skipped  http://:80/feed:" in output and "skipped  http://h:99999/:" in output
    assert "1 added, 0 already present, 3 skipped" in output
    code, output = cli("check", "--config", str(path))
    assert code == 0, output
    assert [feed.url for feed in config.load(path).feeds] == [
        "https://example.org/feed",
        "https://good.example.org/rss",
    ]


def test_regexes_that_need_backtracking_are_refused_by_check_with_an_alternative(
    tmp_path: Path,
) -> None:
    rules = '["/(?<!no )deal/", "/(\\\\w+) \\\\1/", "/news(?=letter)/", "/[unclosed/"]'
    text = problems(
        tmp_path, FEED + f'[[subscribers]]\nemail = "a@example.org"\nexclude = {rules}\n'
    )
    assert (
        "exclude[0]: '/(?<!no )deal/' cannot be used: a negative lookbehind ((?<!) needs a backtracking engine"
        in text
    )
    assert "use an include rule and the unwanted ones with an exclude rule" in text.replace(
        "match the wanted words with an include", "use an include"
    )
    assert "exclude[1]: '/(\\\\w+) \\\\1/' cannot be used: backreferences" in text
    assert "exclude[2]: '/news(?=letter)/' cannot be used: a lookahead" in text
    assert "exclude[3]: '/[unclosed/' is not a valid regular expression (missing ]" in text


def test_health_within_a_bad_duration_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, FEED)
    for bad in ("soon", "99999999999999999999d"):
        code, output = cli("health", "--config", str(path), "--within", bad)
        assert code == 2 and "--within: expected a duration" in output


RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title>
<link>http://example.org/</link><description>d</description>{items}</channel></rss>"""


@pytest.mark.timeout(60)
def test_a_catastrophic_pattern_over_a_long_title_does_not_hang_the_digest(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    stories = [
        ("a" * 40, "Nothing to see."),  # backtracking engines take 2**40 steps here
        ("a" * 5000 + "!", "Nothing to see."),
        ("Calm news about the harbour", "Boats."),
        ("Spam", "aaaa"),  # the one the rules exclude
    ]
    items = "".join(
        f"<item><title>{title}</title><link>http://example.org/{n}</link><guid>g{n}</guid>"
        f"<description>{text}</description></item>"
        for n, (title, text) in enumerate(stories)
    )
    url = feed_server.route(
        "/hostile.rss", body=RSS.format(items=items), content_type="application/rss+xml"
    )
    path = write(
        tmp_path,
        f'[poll]\nallow_private = true\n\n[[feeds]]\nurl = "{url}"\n\n'
        '[[subscribers]]\nemail = "a@example.org"\n'
        'deliver = ["markdown"]\nexclude = ["/(a+)+$/", "/(a|aa)+c/", "/(.*a){25}x/"]\n',
    )
    code, output = cli("poll", "--config", str(path))
    assert code == 0 and "1 fetched" in output, output
    code, output = cli("digest", "--config", str(path), "--now", "--dry-run")
    assert code == 0, output
    assert "a@example.org: would deliver 3 stories" in output
    code, output = cli("preview", "--config", str(path), "-s", "a@example.org", "--format", "text")
    assert code == 0 and "Calm news about the harbour" in output and "a" * 40 in output
    assert "Spam" not in output


RANKING = '[[feeds]]\nurl = "https://example.org/feed"\nweight = {weight}\n' + (
    '[[subscribers]]\nemail = "a@example.org"\nbudget = {budget}\nboost = {boost}\n'
    "order = {order}\n"
)


def test_ranking_keys_are_bounded_and_every_problem_is_named(tmp_path: Path) -> None:
    bad = RANKING.format(weight="0", budget='"30s"', boost='["/(a)\\\\1/"]', order='"newest"')
    text = problems(tmp_path, bad)
    assert "feeds[0].weight: expected a number above 0 and at most 10" in text
    assert 'subscribers[0].budget: expected a reading time from "1m" to "24h"' in text
    assert "subscribers[0].boost[0]: '/(a)\\\\1/' cannot be used: backreferences" in text
    assert 'subscribers[0].order: expected "ranked" (best story first) or "by_tag"' in text
    for weight, budget in (("11", '"25h"'), ("true", "15"), ("nan", '"0m"')):
        text = problems(tmp_path, RANKING.format(weight=weight, budget=budget, boost="[]",
                                                 order='"ranked"'))  # fmt: skip
        assert "feeds[0].weight: expected" in text and "subscribers[0].budget: expected" in text
    good = RANKING.format(weight="2.5", budget='"15m"', boost='["ceasefire"]', order='"by_tag"')
    settings = config.load(write(tmp_path, good))
    assert settings.feeds[0].weight == 2.5
    (subscriber,) = settings.subscribers
    assert (subscriber.budget, subscriber.boost, subscriber.order) == (
        900.0,
        ("ceasefire",),
        "by_tag",
    )
    defaults = config.load(write(tmp_path, FEED + '[[subscribers]]\nemail = "a@example.org"\n'))
    assert defaults.feeds[0].weight == 1.0
    assert (defaults.subscribers[0].budget, defaults.subscribers[0].order) == (0.0, "ranked")


@pytest.mark.parametrize(
    ("templates", "said"),
    [
        ("missing", "is not one"),
        ("broadsheet.toml", "is not one"),  # a file
        ("a" * 5000, "cannot be read (File name too long)"),
    ],
)
def test_a_templates_folder_that_cannot_be_one_is_a_config_error(
    tmp_path: Path, templates: str, said: str
) -> None:
    found = problems(tmp_path, f'[digests]\ntemplates = "{templates}"\n{FEED}')
    assert "digests.templates: expected a folder of templates" in found and said in found
