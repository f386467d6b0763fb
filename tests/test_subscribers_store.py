"""Subscribers in the store and the application API over them, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from processes import write_config
from sqlalchemy import Engine
from test_subscribers import story

from broadsheet import api
from broadsheet.app import App
from digests.links import ARCHIVE, PREFERENCES, UNSUBSCRIBE, read_token
from digests.preferences import PreferenceError, Preferences
from digests.settings import Subscriber
from ingest.store import subscribers as stored
from ingest.store.database import open_store

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
SECRET = "s" * 43


def person(email: str) -> Subscriber:
    return Subscriber(email, "daily 07:00", "0 7 * * *")


def test_sync_adds_updates_and_keeps_those_the_config_dropped(engine: Engine) -> None:
    stored.sync(engine, [person("Ann@Example.org"), person("bo@example.org")], NOW)
    ann = stored.get(engine, "ANN@example.org")
    assert ann is not None and ann.address == "Ann@Example.org" and ann.email == "ann@example.org"
    assert ann.state == "active" and ann.in_config and ann.preferences == Preferences()
    assert len(ann.public_id) >= 20 and stored.by_public_id(engine, ann.public_id) == ann

    stored.sync(engine, [person("ann@example.org")], NOW + timedelta(days=1))
    found = {s.email: s for s in stored.all(engine)}
    assert found["ann@example.org"].address == "ann@example.org"
    assert found["ann@example.org"].public_id == ann.public_id  # links already mailed still work
    assert not found["bo@example.org"].in_config

    stored.sync(engine, [person("ann@example.org"), person("bo@example.org")], NOW)
    assert all(s.in_config for s in stored.all(engine))
    assert stored.get(engine, "cy@example.org") is None
    assert stored.by_public_id(engine, "no-such-id") is None


def test_choices_are_stored_whole_and_read_back(engine: Engine) -> None:
    stored.sync(engine, [person("ann@example.org")], NOW)
    chosen = Preferences(
        paused_until=NOW + timedelta(days=7),
        schedule="weekly fri 06:05",
        timezone="Asia/Tokyo",
        tags=("Tech",),
        include=(),
        exclude=("/x+/", "football"),
        email=False,
    )
    assert stored.choose(engine, "ANN@example.org", chosen, NOW)
    found = stored.get(engine, "ann@example.org")
    assert found is not None and found.preferences == chosen
    assert stored.choose(engine, "ann@example.org", Preferences(), NOW)
    again = stored.get(engine, "ann@example.org")
    assert again is not None and again.preferences == Preferences()
    assert not stored.choose(engine, "nobody@example.org", chosen, NOW)


def test_two_unsubscribes_at_once_change_the_row_once(engine: Engine) -> None:
    stored.sync(engine, [person("ann@example.org")], NOW)
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def unsubscribe(via: str) -> None:
        barrier.wait()
        results.append(stored.unsubscribe(engine, "ann@example.org", via, NOW))

    threads = [threading.Thread(target=unsubscribe, args=(via,)) for via in ("one-click", "web")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    found = stored.get(engine, "ann@example.org")
    assert found is not None and found.state == "unsubscribed" and found.unsubscribed_at == NOW
    assert found.unsubscribed_via in ("one-click", "web")

    assert stored.resubscribe(engine, "ann@example.org", NOW)
    assert not stored.resubscribe(engine, "ann@example.org", NOW)
    back = stored.get(engine, "ann@example.org")
    assert back is not None and back.state == "active" and back.unsubscribed_at is None
    with pytest.raises(ValueError, match="unknown way of unsubscribing"):
        stored.unsubscribe(engine, "ann@example.org", "carrier pigeon", NOW)


def open_app(tmp_path: Path, store_url: str, **web: str) -> App:
    config = write_config(
        tmp_path / "broadsheet.toml",
        ["https://wire.example/feed"],
        [
            {
                "email": "Ann@Example.org",
                "name": "Ann",
                "tags": ["world"],
                "timezone": "Europe/Berlin",
            },
            {"email": "bo@example.org", "schedule": "weekly mon 06:00", "deliver": ["markdown"]},
        ],
        storage={"url": store_url},
        web={"secret_env": "BROADSHEET_TEST_SECRET"} | web,
    )
    text = config.read_text().replace(
        'url = "https://wire.example/feed"',
        'url = "https://wire.example/feed"\ntags = ["world", "Tech"]',
    )
    config.write_text(
        text + '[[feeds]]\nurl = "https://sci.example/feed"\ntags = ["science", "tech"]\n'
    )
    return App.open(config)


@pytest.fixture
def app(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.setenv("BROADSHEET_TEST_SECRET", SECRET)
    application = open_app(tmp_path, store_url, base_url="https://news.example/bs")
    yield application  # type: ignore[misc]
    application.close()


def test_opening_the_app_lists_the_configs_people_in_the_store(app: App) -> None:
    views = api.subscribers(app, NOW)
    assert [v.email for v in views] == ["ann@example.org", "bo@example.org"]
    ann, bo = views
    assert (ann.address, ann.name, ann.state, ann.hold) == ("Ann@Example.org", "Ann", "active", "")
    assert (ann.schedule, ann.timezone, ann.deliver, ann.tags) == (
        "daily 07:00",
        "Europe/Berlin",
        ("email",),
        ("world",),
    )
    assert ann.last_digest is None and ann.paused_until is None
    assert ann.next_due == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)  # 07:00 in Berlin
    assert bo.next_due == datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    assert ann.subscriber is not None and ann.subscriber.public_id == ann.public_id
    assert api.find(app, ann.public_id, NOW) == ann
    assert api.find(app, "forged", NOW) is None
    assert api.subscriber(app, "ANN@example.org", NOW) == ann
    with pytest.raises(api.UnknownSubscriber, match=r"no subscriber cy@example.org in .*"):
        api.subscriber(app, "cy@example.org", NOW)


def test_admin_tags_are_each_feed_tag_once_alphabetically(app: App) -> None:
    assert api.admin_tags(app) == ("science", "Tech", "world")


def test_unsubscribe_and_resubscribe_through_the_api(app: App) -> None:
    gone = api.unsubscribe(app, "ann@example.org", via="one-click", now=NOW)
    assert (gone.state, gone.hold) == ("unsubscribed", "unsubscribed on 2026-12-01 (one-click)")
    assert gone.next_due is None and gone.unsubscribed_via == "one-click"
    later = api.unsubscribe(app, "ann@example.org", via="web", now=NOW + timedelta(hours=1))
    assert later.unsubscribed_at == NOW and later.unsubscribed_via == "one-click"  # unchanged
    held = {s.key: s.hold for s in api.effective_subscribers(app, NOW)}
    assert held == {"ann@example.org": gone.hold, "bo@example.org": ""}
    back = api.resubscribe(app, "ann@example.org", NOW)
    assert (back.state, back.hold, back.unsubscribed_at) == ("active", "", None)
    with pytest.raises(api.UnknownSubscriber):
        api.unsubscribe(app, "cy@example.org", via="command", now=NOW)


def test_preferences_through_the_api(app: App) -> None:
    fields = [
        ("pause", "week"),
        ("frequency", "weekly"),
        ("weekday", "fri"),
        ("time", "18:00"),
        ("timezone", "Europe/Berlin"),
        ("tags", "Tech"),
        ("tags", "science"),
        ("include", ""),
        ("exclude", "football"),
    ]  # no "email": the box is unchecked
    view = api.set_preferences(app, "ann@example.org", fields, NOW)
    assert view.state == "paused" and view.hold == "paused until 8 December 2026"
    assert (view.schedule, view.tags, view.exclude, view.deliver) == (
        "weekly fri 18:00",
        ("science", "Tech"),
        ("football",),
        (),
    )
    assert view.paused_until == datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
    assert view.next_due == datetime(2026, 12, 11, 17, 0, tzinfo=UTC)  # the first Friday after
    with pytest.raises(PreferenceError) as caught:
        api.set_preferences(app, "ann@example.org", [("time", "9pm"), ("frequency", "daily")], NOW)
    assert set(caught.value.problems) == {"time"}
    assert api.subscriber(app, "ann@example.org", NOW) == view  # nothing stored
    resumed = api.set_preferences(app, "ann@example.org", [("pause", "resume")], NOW)
    assert resumed.state == "active" and resumed.schedule == "daily 07:00"
    assert resumed.deliver == () and resumed.tags == ("world",)


def test_links_are_signed_for_the_subscribers_public_id(app: App) -> None:
    found = api.links(app, "ann@example.org")
    assert found is not None
    public_id = api.subscriber(app, "ann@example.org").public_id
    for url, purpose, path in (
        (found.unsubscribe, UNSUBSCRIBE, "u"),
        (found.preferences, PREFERENCES, "p"),
        (found.archive, ARCHIVE, "a"),
    ):
        prefix = f"https://news.example/bs/{path}/"
        assert url.startswith(prefix)
        assert read_token(SECRET, url.removeprefix(prefix), purpose) == public_id
    assert found.edition(12) == f"{found.archive}/12"
    # Delivery hands the same links to each digest it packs.
    ann = {s.key: s for s in api.effective_subscribers(app)}["ann@example.org"]
    assert app.delivery.links(ann) == found


def test_without_a_base_url_there_are_no_links(tmp_path: Path, store_url: str) -> None:
    application = open_app(tmp_path, store_url)
    try:
        assert api.links(application, "ann@example.org") is None
        assert all(
            application.delivery.links(s) is None for s in api.effective_subscribers(application)
        )
    finally:
        application.close()


def test_a_person_removed_from_the_config_keeps_their_row(
    tmp_path: Path, store_url: str, app: App
) -> None:
    api.unsubscribe(app, "bo@example.org", via="command", now=NOW)
    public_id = api.subscriber(app, "bo@example.org").public_id
    config = app.settings.path
    config.write_text(config.read_text().replace("bo@example.org", "cy@example.org"))
    again = App.open(config)
    try:
        views = {v.email: v for v in api.subscribers(again, NOW)}
        assert list(views) == ["ann@example.org", "cy@example.org", "bo@example.org"]
        bo = views["bo@example.org"]
        assert (bo.state, bo.public_id, bo.subscriber, bo.next_due) == (
            "not in config",
            public_id,
            None,
            None,
        )
        assert bo.unsubscribed_via == "command"
        assert [s.key for s in api.effective_subscribers(again, NOW)] == [
            "ann@example.org",
            "cy@example.org",
        ]
        assert api.find(again, public_id, NOW) == bo
        with pytest.raises(api.UnknownSubscriber):
            api.preview(again, "bo@example.org", NOW)
    finally:
        again.close()
    engine = open_store(store_url)
    try:
        found = stored.get(engine, "bo@example.org")
        assert found is not None and not found.in_config
    finally:
        engine.dispose()


def test_preview_holds_what_the_subscribers_choices_select(app: App) -> None:
    when = datetime.now(UTC) - timedelta(hours=1)
    story(app, "https://wire.example/feed", "w1", "Harbor talks resume", when)
    story(app, "https://sci.example/feed", "s1", "Comet seen from the harbor", when)
    story(app, "https://sci.example/feed", "s2", "Football final tonight", when)

    def titles() -> list[str]:
        return sorted(i.entry.title for i in api.preview(app, "ann@example.org").stories)

    assert titles() == ["Harbor talks resume"]
    api.set_preferences(app, "ann@example.org", [("tags", "science"), ("email", "on")])
    assert titles() == ["Comet seen from the harbor", "Football final tonight"]
    api.set_preferences(
        app, "ann@example.org", [("tags", "science"), ("exclude", "football"), ("email", "on")]
    )
    assert titles() == ["Comet seen from the harbor"]
    api.set_preferences(app, "ann@example.org", [("include", "talks"), ("email", "on")])
    assert titles() == ["Harbor talks resume"]
