"""The shipped example through the commands: a ranked, budgeted e-mail with its index, explained."""

from __future__ import annotations

import re
from pathlib import Path

import tomlkit
from bs4 import BeautifulSoup
from processes import cli
from server import FeedServer
from smtp import SmtpServer
from test_cli import shipped_config_with_local_feeds

from broadsheet import config


def shipped_by_email(tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer) -> Path:
    """The shipped config on the test feeds, its subscriber mailed through the test SMTP server."""
    path = shipped_config_with_local_feeds(tmp_path, feed_server)
    document = tomlkit.parse(path.read_text())
    document["smtp"].update(  # type: ignore[union-attr]
        {"host": "127.0.0.1", "port": smtp_server.port, "security": "none"}
    )
    document["subscribers"][0]["deliver"] = ["email"]  # type: ignore[index]
    path.write_text(tomlkit.dumps(document))
    return path


def test_the_shipped_subscriber_gets_a_ranked_budgeted_digest_with_its_index(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    path = shipped_by_email(tmp_path, feed_server, smtp_server)
    (reader,) = config.load(path).subscribers
    assert (reader.budget, reader.order) == (600.0, "ranked")  # the shipped example's

    code, out, err = cli(path, "poll")
    assert code == 0, out + err
    code, out, err = cli(path, "preview", "-s", "reader@example.org", "--explain")
    assert code == 0, out + err
    head, *stories = out.split("\n\n")
    assert head.startswith("reader@example.org: ") and "a budget of 10 minutes" in head
    assert "score = weight × (1 + outlets + recency + boost + reading)" in head
    scores = [float(block.split()[1]) for block in stories]
    assert len(stories) >= 4 and scores == sorted(scores, reverse=True)
    first = stories[0].splitlines()
    assert first[0].startswith("  1. ") and "  in full: " in first[0]
    assert [line.split()[1] for line in first[2:]][:1] == ["base"]
    explained_titles = [block.splitlines()[0].split(": ", 1)[1] for block in stories]

    code, out, err = cli(path, "run", "--once")
    assert code == 0, out + err
    (message,) = smtp_server.messages
    html = str(message.get_body(("html",)).get_content())  # type: ignore[union-attr]
    text = str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    soup = BeautifulSoup(html, "html.parser")
    index = soup.select(".contents a")
    assert [a.get_text() for a in index] == explained_titles[: len(index)]
    assert all(soup.find(id=a["href"][1:]) for a in index)  # each entry opens its story
    full = [a.get_text() for a in soup.select(".title a")]
    assert full == [t for t in explained_titles if t in full]  # best first
    minutes = re.search(r"IN THIS EDITION \((\d+) minutes? of reading\)", text)
    assert minutes is not None and int(minutes[1]) <= 10
    for number, title in enumerate(explained_titles[: len(index)], 1):
        assert f"{number:>2}. {title[:30]}" in text
