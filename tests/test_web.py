"""`broadsheet web` over HTTP, as a mail provider, a subscriber and a stranger reach it.

Each test starts the real command (uvicorn, in its own process) on a free port and talks to it
with an HTTP client: links that are not valid, the one-click unsubscribe (RFC 8058), the
page's own buttons and their CSRF fields, the preferences form, the archive, the headers every
response carries, and two processes sharing one PostgreSQL store.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from processes import cli, run, wait_for
from proxy import TcpProxy
from server import FeedServer
from smtp import SmtpServer
from stores import PG_SCHEMA, fresh_pg_schema, pg_unavailable, pg_url
from web import (
    ANN,
    BOB,
    SECRET,
    SECRET_ENV,
    WebServer,
    cli_with_key,
    configure,
    csrf,
    mailed,
    news,
    page_links,
    public_id,
    standing,
)

from digests.links import PREFERENCES, UNSUBSCRIBE, Links, token
from ingest.store.database import open_store
from ingest.store.deliveries import history

POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An SQLite store in the test's folder."""
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def web(tmp_path: Path, sqlite_url: str) -> Any:
    """`broadsheet web` on SQLite with Ann and Bob; no base_url."""
    with WebServer(configure(tmp_path, sqlite_url)) as server:
        yield server


def client(server: WebServer) -> httpx.Client:
    """An HTTP client for the server that follows no redirect."""
    return httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)


def their_links(server: WebServer, storage_url: str, email: str = ANN) -> Links:
    """``email``'s links, relative to the server (paths only)."""
    found = page_links(server.url, storage_url, email)
    strip = len(server.url)
    return Links(found.unsubscribe[strip:], found.preferences[strip:], found.archive[strip:])


# The command


def test_new_secret_prints_a_fresh_key_that_config_accepts(tmp_path: Path) -> None:
    config = configure(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", base_url="https://x.org")
    keys = set()
    for _ in range(2):
        code, out, err = cli(config, "web", "--new-secret")
        assert code == 0, err
        keys.add(out.strip())
    assert len(keys) == 2 and all(re.fullmatch(r"[A-Za-z0-9_-]{43}", key) for key in keys)
    code, _, err = cli_with_key(config, "check", secret=keys.pop())
    assert code == 0, err


def test_web_without_a_key_refuses_to_start_and_says_how_to_make_one(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = configure(tmp_path, sqlite_url)
    for env in ({}, {SECRET_ENV: "short"}):
        done = run(config, "web", "--port", "1", env=env)
        assert done.returncode == 2, done.stderr
        assert "$BROADSHEET_SECRET_KEY" in done.stderr
        assert 'export BROADSHEET_SECRET_KEY="$(broadsheet web --new-secret)"' in done.stderr


def test_without_base_url_the_pages_work_and_the_log_warns(web: WebServer, sqlite_url: str) -> None:
    assert "base_url is empty, so digests carry no links to these pages" in web.text()
    with client(web) as http:
        page = http.get(their_links(web, sqlite_url).unsubscribe)
    assert page.status_code == 200 and "Stop sending digests to" in page.text


# Headers, static, health


def test_every_response_carries_the_security_headers(web: WebServer, sqlite_url: str) -> None:
    mine = their_links(web, sqlite_url)
    with client(web) as http:
        responses = {
            "page": http.get(mine.unsubscribe),
            "preferences": http.get(mine.preferences),
            "archive": http.get(mine.archive),
            "not found": http.get("/nothing-here"),
            "bad post": http.post(mine.unsubscribe, data={"x": "y"}),
            "health": http.get("/healthz"),
            "stylesheet": http.get("/static/web.css"),
        }
    for name, response in responses.items():
        headers = response.headers
        assert headers["content-security-policy"] == POLICY, name
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["referrer-policy"] == "no-referrer", name
        assert headers["x-frame-options"] == "DENY", name
        assert "server" not in headers, name
    assert responses["page"].headers["cache-control"] == "no-store"
    css = responses["stylesheet"]
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "prefers-color-scheme: dark" in css.text
    assert responses["health"].text == "ok"
    for page in ("page", "preferences", "archive", "not found"):
        html = responses[page].text
        assert "<script" not in html and 'rel="stylesheet" href="/static/web.css"' in html
        assert '<meta name="viewport"' in html and "<h1>" in html


def test_links_that_are_not_valid_all_get_the_same_404(web: WebServer, sqlite_url: str) -> None:
    mine = their_links(web, sqlite_url)
    ann = public_id(sqlite_url, ANN)
    value = mine.unsubscribe.removeprefix("/u/")
    flipped = value[:-3] + ("A" if value[-3] != "A" else "B") + value[-2:]
    wrong = [
        f"/u/{flipped}",  # tampered
        f"/u/{value[:-5]}",  # truncated
        f"/u/{value.split('.')[0]}",  # the signature cut off
        f"/p/{value}",  # an unsubscribe token on the preferences page
        f"/a/{value}",
        f"/u/{token(SECRET, ann, PREFERENCES)}",  # a preferences token on the unsubscribe page
        f"/u/{token('another-key-of-more-than-thirty-two-chars', ann, UNSUBSCRIBE)}",
        f"/u/{token(SECRET, 'nobody-has-this-id', UNSUBSCRIBE)}",  # signed, names nobody
        f"{mine.archive}/1",  # no such edition
        f"{mine.archive}/99999999999999999999999",  # larger than any id
        f"{mine.archive}/x",
        "/u/",
        "/nothing-here",
    ]
    with client(web) as http:
        reference = http.get("/nothing-here")
        assert reference.status_code == 404 and "Page not found" in reference.text
        for path in wrong:
            response = http.get(path)
            assert response.status_code == 404, path
            assert response.text == reference.text, path
        assert http.post(f"/u/{flipped}", data=ONE_CLICK).status_code == 404
        assert http.post(f"/p/{value}", data={"csrf": "x"}).status_code == 404
    assert standing(sqlite_url, ANN).state == "active"


# Unsubscribing


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_one_click_unsubscribes_at_once_and_a_repeat_is_harmless(
    tmp_path: Path, store: str
) -> None:
    storage_url = f"sqlite:///{tmp_path / 'store.db'}" if store == "sqlite" else fresh_pg_schema()
    with WebServer(configure(tmp_path, storage_url)) as server, client(server) as http:
        mine = their_links(server, storage_url)
        first = http.post(mine.unsubscribe, data=ONE_CLICK)
        assert first.status_code == 200 and "location" not in first.headers
        assert "You are unsubscribed" in first.text
        gone = standing(storage_url, ANN)
        assert (gone.state, gone.unsubscribed_via) == ("unsubscribed", "one-click")
        again = http.post(mine.unsubscribe, files={"List-Unsubscribe": (None, "One-Click")})
        assert again.status_code == 200 and "location" not in again.headers
        assert standing(storage_url, ANN) == gone  # the same moment, the same way
        assert standing(storage_url, BOB).state == "active"


def test_a_get_changes_nothing(web: WebServer, sqlite_url: str) -> None:
    mine = their_links(web, sqlite_url)
    with client(web) as http:
        for _ in range(3):
            page = http.get(mine.unsubscribe)
            assert page.status_code == 200
        assert http.head(mine.unsubscribe).status_code == 200
    assert standing(sqlite_url, ANN).state == "active"
    assert page.text.count("<form") == 1 and page.text.count('type="submit"') == 1
    assert f'action="{mine.unsubscribe}"' in page.text and "ann@example.org" in page.text


def test_posts_the_pages_did_not_send_change_nothing(web: WebServer, sqlite_url: str) -> None:
    ann, bob = their_links(web, sqlite_url), their_links(web, sqlite_url, BOB)
    with client(web) as http:
        bobs = csrf(http.get(bob.unsubscribe).text)
        preferences = csrf(http.get(ann.preferences).text)
        posts = {
            "nothing": {},
            "a wrong one-click body": {"List-Unsubscribe": "Yes"},
            "a one-click body in another field": {"Unsubscribe": "One-Click"},
            "a made-up field": {"csrf": "made-up"},
            "another subscriber's field": {"csrf": bobs},
            "another form's field": {"csrf": preferences},
        }
        for what, body in posts.items():
            response = http.post(ann.unsubscribe, data=body)
            assert response.status_code == 400, what
            assert "This request was not understood" in response.text, what
        raw = http.post(
            ann.unsubscribe,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "text/plain"},
        )
        assert raw.status_code == 400
        assert http.post(f"{ann.unsubscribe}/undo", data={}).status_code == 400
        assert http.post(ann.preferences, data={"frequency": "weekly"}).status_code == 400
        assert http.put(ann.unsubscribe, data=ONE_CLICK).status_code == 405
    found = standing(sqlite_url, ANN)
    assert found.state == "active" and found.preferences.schedule is None


def test_the_pages_button_unsubscribes_and_another_brings_them_back(
    web: WebServer, sqlite_url: str
) -> None:
    mine = their_links(web, sqlite_url)
    with client(web) as http:
        page = http.get(mine.unsubscribe)
        done = http.post(mine.unsubscribe, data={"csrf": csrf(page.text)})
        assert done.status_code == 200 and "You are unsubscribed" in done.text
        gone = standing(sqlite_url, ANN)
        assert (gone.state, gone.unsubscribed_via) == ("unsubscribed", "web")

        later = http.get(mine.unsubscribe)
        assert "You are unsubscribed" in later.text and "Subscribe again" in later.text
        assert f'action="{mine.unsubscribe}/undo"' in later.text
        back = http.post(f"{mine.unsubscribe}/undo", data={"csrf": csrf(later.text)})
        assert back.status_code == 200 and "You are subscribed again" in back.text
        assert standing(sqlite_url, ANN).state == "active"
        assert "Unsubscribe</button>" in back.text


def test_two_tabs_open_on_the_page_agree(web: WebServer, sqlite_url: str) -> None:
    mine = their_links(web, sqlite_url)
    with client(web) as http:
        first, second = (csrf(http.get(mine.unsubscribe).text) for _ in range(2))
        assert http.post(mine.unsubscribe, data={"csrf": first}).status_code == 200
        gone = standing(sqlite_url, ANN)
        late = http.post(mine.unsubscribe, data={"csrf": second})
        assert late.status_code == 200 and "You are unsubscribed" in late.text
        assert standing(sqlite_url, ANN) == gone  # still the first tab's moment

        undo_one, undo_two = (csrf(http.get(mine.unsubscribe).text) for _ in range(2))
        assert http.post(f"{mine.unsubscribe}/undo", data={"csrf": undo_one}).status_code == 200
        late = http.post(f"{mine.unsubscribe}/undo", data={"csrf": undo_two})
        assert late.status_code == 200 and "You are subscribed again" in late.text
    assert standing(sqlite_url, ANN).state == "active"


def test_a_page_left_open_too_long_asks_again_and_changes_nothing(
    web: WebServer, sqlite_url: str
) -> None:
    mine = their_links(web, sqlite_url)
    ann = public_id(sqlite_url, ANN)

    class ThreeDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(datetime.now(UTC).timestamp()) - 3 * 86400

    salt = "broadsheet.csrf.unsubscribe"
    stale = URLSafeTimedSerializer(SECRET, salt=salt, signer=ThreeDaysAgo).dumps(ann)
    with client(web) as http:
        page = http.post(mine.unsubscribe, data={"csrf": stale})
        assert page.status_code == 400 and "open for a long time" in page.text
        assert standing(sqlite_url, ANN).state == "active"
        again = http.post(mine.unsubscribe, data={"csrf": csrf(page.text)})
        assert again.status_code == 200 and "You are unsubscribed" in again.text


def test_a_large_body_is_refused_before_it_is_read(web: WebServer, sqlite_url: str) -> None:
    mine = their_links(web, sqlite_url)
    big = {"List-Unsubscribe": "One-Click", "padding": "x" * 100_000}
    with client(web) as http:
        assert http.post(mine.unsubscribe, data=big).status_code == 413

        def chunks() -> Any:
            yield b"List-Unsubscribe=One-Click&padding="
            for _ in range(100):
                yield b"x" * 1000

        chunked = http.post(
            mine.unsubscribe,
            content=chunks(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert chunked.status_code == 413
        assert http.get("/healthz").status_code == 200
    assert standing(sqlite_url, ANN).state == "active"


# Preferences


def test_preferences_show_the_choices_keep_what_was_typed_and_save_only_good_ones(
    tmp_path: Path, sqlite_url: str, feed_server: FeedServer
) -> None:
    config = configure(tmp_path, sqlite_url, feeds=news(feed_server))
    with WebServer(config) as server, client(server) as http:
        mine = their_links(server, sqlite_url)
        page = http.get(mine.preferences)
        assert page.status_code == 200
        html = page.text
        for field in ("pause", "pause_until", "frequency", "time", "weekday", "timezone"):
            assert f'name="{field}"' in html, field
        for field in ("tags", "include", "exclude", "email"):
            assert f'name="{field}"' in html, field
        assert re.search(r'value="daily" checked', html) and 'value="world"' in html
        assert "<option selected>UTC</option>" in html

        bad = {
            "csrf": csrf(html),
            "frequency": "weekly",
            "weekday": "wed",
            "time": "25:00",
            "timezone": "Mars/Olympus",
            "exclude": "/[unclosed/\ncricket",
            "email": "on",
        }
        refused = http.post(mine.preferences, data=bad)
        assert refused.status_code == 400
        shown = refused.text
        assert "Nothing was saved: 3 choices need another look." in shown
        for field in ("time", "timezone", "exclude"):
            assert f'id="{field}-error"' in shown, field
            assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', shown), field
        assert 'value="25:00"' in shown and "/[unclosed/\ncricket</textarea>" in shown
        assert standing(sqlite_url, ANN).preferences.schedule is None

        good = bad | {"time": "18:30", "timezone": "Europe/Paris", "exclude": "cricket"}
        good |= {"tags": "world", "csrf": csrf(shown)}
        saved = http.post(mine.preferences, data=good)
        assert saved.status_code == 200 and "Your choices are saved." in saved.text
        chosen = standing(sqlite_url, ANN).preferences
        assert chosen.schedule == "weekly wed 18:30" and chosen.timezone == "Europe/Paris"
        assert chosen.exclude == ("cricket",) and chosen.tags == ("world",)
        again = http.get(mine.preferences).text
        assert 'value="weekly" checked' in again and 'value="wed" selected' in again
        assert "<option selected>Europe/Paris</option>" in again
        assert ">cricket</textarea>" in again


# Two processes, one store; the store going away


def test_two_web_processes_on_one_postgresql_store_agree(tmp_path: Path) -> None:
    storage_url = fresh_pg_schema()
    config = configure(tmp_path, storage_url)
    with (
        WebServer(config) as one,
        WebServer(config) as two,
        client(one) as first,
        client(two) as second,
    ):
        mine = their_links(one, storage_url)
        assert "Stop sending digests" in second.get(mine.unsubscribe).text
        assert first.post(mine.unsubscribe, data=ONE_CLICK).status_code == 200
        shown = second.get(mine.unsubscribe)
        assert "You are unsubscribed" in shown.text
        back = second.post(f"{mine.unsubscribe}/undo", data={"csrf": csrf(shown.text)})
        assert back.status_code == 200
        assert "Stop sending digests" in first.get(mine.unsubscribe).text
        page = first.get(mine.preferences)  # a form from one, posted to the other
        form = {"csrf": csrf(page.text), "frequency": "daily", "time": "06:15"}
        assert second.post(mine.preferences, data=form).status_code == 200
        assert 'value="06:15"' in first.get(mine.preferences).text
    assert standing(storage_url, ANN).preferences.schedule == "daily 06:15"


def test_health_and_pages_say_503_while_the_store_is_away(tmp_path: Path) -> None:
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    fresh_pg_schema()
    with TcpProxy("127.0.0.1", 5432) as proxy:
        storage_url = pg_url(PG_SCHEMA).replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        with WebServer(configure(tmp_path, storage_url)) as server, client(server) as http:
            mine = their_links(server, storage_url)
            proxy.cut()
            health = http.get("/healthz")
            assert health.status_code == 503 and health.text == "the store does not answer"
            page = http.post(mine.unsubscribe, data=ONE_CLICK)
            assert page.status_code == 503 and "Not available right now" in page.text
            assert page.headers["content-security-policy"] == POLICY
            proxy.resume()
            wait_for(lambda: http.get("/healthz").status_code == 200, "the store back")
            assert http.post(mine.unsubscribe, data=ONE_CLICK).status_code == 200
            assert "the store failed while" in server.text()


def test_the_log_never_shows_a_token(web: WebServer, sqlite_url: str) -> None:
    mine = their_links(web, sqlite_url)
    with client(web) as http:
        http.get(mine.unsubscribe)
        http.get(f"{mine.archive}/12")
    wait_for(lambda: "web GET /a/…/12 404" in web.text(), "the archive request in the log")
    assert "web GET /u/… 200" in web.text()
    secret = mine.unsubscribe.removeprefix("/u/")
    assert secret not in web.text() and mine.archive.removeprefix("/a/") not in web.text()


def test_pages_served_under_a_path_link_under_it(tmp_path: Path, sqlite_url: str) -> None:
    server = WebServer(configure(tmp_path, sqlite_url))
    configure(tmp_path, sqlite_url, base_url=f"{server.url}/news")
    with server, client(server) as http:
        mine = their_links(server, sqlite_url)
        page = http.get(mine.unsubscribe)  # the proxy took /news off
        assert page.status_code == 200
        assert 'href="/news/static/web.css"' in page.text
        assert f'action="/news{mine.unsubscribe}"' in page.text


# The archive


def test_the_archive_lists_what_was_sent_and_shows_it_as_sent(
    tmp_path: Path, sqlite_url: str, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    server, _ = mailed(tmp_path, sqlite_url, news(feed_server), smtp_server.port)
    with server, client(server) as http:
        ann, bob = their_links(server, sqlite_url), their_links(server, sqlite_url, BOB)
        listing = http.get(ann.archive)
        assert listing.status_code == 200 and "Past editions" in listing.text
        (edition,) = re.findall(rf'href="({re.escape(ann.archive)}/\d+)"', listing.text)
        copy = http.get(edition)
        assert copy.status_code == 200
        policy = copy.headers["content-security-policy"]
        assert "sandbox" in policy and "script" not in policy
        mail = next(m for m in smtp_server.messages if m["To"] == ANN)
        sent = mail.get_body(("html",)).get_content()
        assert titles(copy.text) == titles(sent) and titles(sent)
        delivery = edition.rsplit("/", 1)[1]
        assert http.get(f"{bob.archive}/{delivery}").status_code == 404


def titles(html: str) -> list[str]:
    """The story titles of a digest's HTML, in order."""
    return re.findall(r'<h2 class="title"[^>]*>(?:<a [^>]*>)?([^<]+)', html)


# From a delivered digest to the next run


def test_one_click_from_a_delivered_digest_stops_the_next_one_and_the_ledger_says_why(
    tmp_path: Path, sqlite_url: str, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    server, config = mailed(tmp_path, sqlite_url, news(feed_server), smtp_server.port)
    (mail,) = (m for m in smtp_server.messages if m["To"] == ANN)
    offered = re.findall(r"<([^>]+)>", str(mail["List-Unsubscribe"]))
    assert len(offered) == 2 and offered[1].startswith("mailto:"), offered
    one_click = offered[0]
    assert one_click.startswith(f"{server.url}/u/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    with server, httpx.Client(follow_redirects=False, timeout=30) as http:
        assert http.get(one_click).status_code == 200
        assert standing(sqlite_url, ANN).state == "active"  # a GET changes nothing
        for _ in range(2):  # as a mail provider posts it; a repeat is harmless
            answer = http.post(
                one_click,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert answer.status_code == 200 and "location" not in answer.headers
    gone = standing(sqlite_url, ANN)
    assert (gone.state, gone.unsubscribed_via) == ("unsubscribed", "one-click")

    code, out, err = cli_with_key(config, "digest", "--now")
    assert code == 0, out + err
    assert "1 held (unsubscribed or paused)" in out
    assert [m["To"] for m in smtp_server.messages].count(ANN) == 1
    engine = open_store(sqlite_url)
    try:
        rows = history(engine, ANN)
    finally:
        engine.dispose()
    assert [row["state"] for row in rows] == ["sent", "skipped"]
    day = f"{gone.unsubscribed_at:%Y-%m-%d}" if gone.unsubscribed_at else "?"
    assert rows[-1]["note"] == f"unsubscribed on {day} (one-click)"
