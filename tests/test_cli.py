"""The CLI as an admin uses it: the quick start's main job, OPML, discovery, preview, docs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import tomlkit
import typer
from server import FeedServer
from typer.testing import CliRunner

from broadsheet.cli import app

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / "tests" / "data" / "shared"
runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def shipped_config_with_local_feeds(tmp_path: Path, server: FeedServer) -> Path:
    """The shipped config, its comments kept, with the feeds pointed at the test server."""
    document = tomlkit.parse((REPO / "config" / "broadsheet.toml").read_text())
    feeds = document["feeds"]
    names = ["newswire.rss", "harbor-times.atom", "no-guids.rss", "newswire.json"]
    while len(feeds) > len(names):
        feeds.pop()
    for table, name in zip(feeds, names, strict=True):
        table["url"] = server.url(f"/recent/{name}")  # a new feed's items from days ago are backlog
    document["poll"]["allow_private"] = True  # type: ignore[index]  # the server is on 127.0.0.1
    path = tmp_path / "broadsheet.toml"
    path.write_text(tomlkit.dumps(document))
    return path


def test_run_once_on_the_shipped_config_writes_a_markdown_digest(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    path = shipped_config_with_local_feeds(tmp_path, feed_server)
    code, output = cli("run", "--once", "--config", str(path))
    assert code == 0, output
    assert "4 feeds: 4 fetched" in output
    folder = tmp_path / "out" / "reader@example.org"
    (digest,) = folder.glob("*.md")
    berlin = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin"))
    assert digest.name == f"{berlin:%Y-%m-%d}.md"
    assert f"wrote {digest}" in output
    text = digest.read_text()
    assert "# The Broadsheet" in text
    assert "Troops Pull Back From Outskirts for Second Day" in text
    assert "utm_source" not in text and "<script" not in text
    assert (tmp_path / "data" / "broadsheet.db").exists()
    code, output = cli("run", "--once", "--config", str(path), "--json")
    assert code == 0
    assert json.loads(output)["digest"] == {
        "due": 0,
        "sent": 0,
        "written": 0,
        "failed": 0,
        "skipped_empty": 0,
        "abandoned": 0,
        "retrying": 0,
        "held": 0,
        "archived": 0,
    }


def unresolvable(path: Path, how_many: int) -> None:
    """Point the first ``how_many`` feeds of the config at hosts that never resolve (RFC 6761)."""
    document = tomlkit.parse(path.read_text())
    for n, table in enumerate(document["feeds"][:how_many]):
        table["url"] = f"https://feed{n}.broadsheet.invalid/rss"
    path.write_text(tomlkit.dumps(document))


def test_a_round_where_no_host_resolves_says_the_machine_looks_offline(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    path = shipped_config_with_local_feeds(tmp_path, feed_server)
    unresolvable(path, 2)
    code, output = cli("poll", "--config", str(path))
    assert code == 0, output
    assert "4 feeds: 2 fetched, 0 not modified, 0 unchanged, 2 failed" in output
    assert "DNS lookup failed for feed0.broadsheet.invalid" in output
    assert "offline" not in output  # two feeds answered: the machine is online

    unresolvable(path, 4)
    code, output = cli("poll", "--all", "--config", str(path))
    assert code == 0, output
    assert "4 feeds: 0 fetched, 0 not modified, 0 unchanged, 4 failed" in output
    assert "no feed's host name resolved: unless every URL is mistyped, this machine is " in output


def test_digest_now_and_dry_run_and_preview(tmp_path: Path, feed_server: FeedServer) -> None:
    path = shipped_config_with_local_feeds(tmp_path, feed_server)
    cli("poll", "--config", str(path))
    code, output = cli("digest", "--config", str(path), "--dry-run", "--json")
    assert code == 0 and json.loads(output)["due"] == 1
    assert not (tmp_path / "out").exists()
    code, output = cli(
        "preview", "--config", str(path), "-s", "reader@example.org", "--format", "text"
    )
    assert code == 0 and "Troops Pull Back" in output
    preview = tmp_path / "preview.html"
    code, _ = cli(
        "preview", "--config", str(path), "-s", "reader@example.org", "--out", str(preview)
    )
    assert code == 0 and "<html" in preview.read_text().lower()
    code, output = cli("digest", "--config", str(path), "--now", "--json")
    assert code == 0 and json.loads(output)["written"] == 1
    code, output = cli("digest", "--config", str(path), "--subscriber", "nobody@example.org")
    assert code == 2 and "reader@example.org" in output


def test_opml_import_keeps_comments_and_skips_known_feeds(tmp_path: Path) -> None:
    path = tmp_path / "broadsheet.toml"
    original = '# my feeds\n[[feeds]]\nurl = "https://news.northwind.example/feed/"  # keep me\n'
    path.write_text(original)
    code, output = cli(
        "feeds", "import", str(SHARED / "fixtures" / "subscriptions.opml"), "--config", str(path)
    )
    assert code == 0, output
    assert "2 added, 1 already present" in output
    text = path.read_text()
    assert text.startswith(original)
    assert 'url = "https://harbortimes.example/world/atom.xml"' in text
    assert 'tags = ["world"]' in text
    code, _ = cli("check", "--config", str(path))
    assert code == 0
    code, exported = cli("feeds", "export", "--config", str(path))
    assert code == 0
    assert exported.count("<outline") == 4  # a folder and three feeds
    assert 'xmlUrl="http://bulletin.example/rss"' in exported
    code, output = cli("feeds", "import", str(path), "--config", str(path))
    assert code == 1 and "not well-formed XML" in output


def test_discover_prints_the_feeds_a_page_advertises(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    path = tmp_path / "broadsheet.toml"
    path.write_text("[poll]\nallow_private = true\n")  # the test server is on 127.0.0.1
    feed_server.route("/feed/", body=(SHARED / "fixtures" / "newswire.rss").read_bytes())
    code, output = cli(
        "feeds",
        "discover",
        feed_server.url("/fixtures/page-with-feeds.html"),
        "--config",
        str(path),
    )
    assert code == 0, output
    assert feed_server.url("/feed/") in output
    assert "https://news.northwind.example/comments/feed/" in output


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    root = typer.main.get_command(app)
    commands = []
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        commands.append(name)
        commands += [f"{name} {sub}" for sub in getattr(command, "commands", {})]
    assert "feeds import" in commands and "worker" in commands
    for command in commands:
        assert re.search(rf"`broadsheet {command}\b", readme), (
            f"`broadsheet {command}` is not in README.md"
        )


def test_readme_quick_start_and_ci_run_the_same_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    blocks = re.findall(r"```sh\n(.*?)\n```", readme, flags=re.S)
    assert blocks[0].endswith("broadsheet run --once")
    assert blocks[1] in ci
