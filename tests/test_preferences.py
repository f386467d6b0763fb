"""A subscriber's own choices over the config's: the rules as pure functions, the form checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digests.preferences import (
    PreferenceError,
    Preferences,
    Standing,
    effective,
    from_form,
)
from digests.settings import Subscriber

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
ANN = Subscriber(
    email="Ann@Example.org",
    schedule="daily 07:00",
    cron="0 7 * * *",
    timezone="Europe/Berlin",
    tags=("world",),
    deliver=("email", "markdown"),
    include=("harbor",),
)
TAGS = ("Science", "Tech", "world")


def standing(**kw: object) -> Standing:
    values: dict[str, object] = {
        "email": "ann@example.org",
        "address": "Ann@Example.org",
        "public_id": "pub-ann",
        "in_config": True,
        "state": "active",
        "unsubscribed_at": None,
        "unsubscribed_via": None,
        "preferences": Preferences(),
        "created_at": NOW - timedelta(days=30),
    }
    return Standing(**(values | kw))  # type: ignore[arg-type]


def form(**fields: str | list[str]) -> list[tuple[str, str]]:
    """A submitted form: a full one as the page sends it, with ``fields`` changed."""
    base: dict[str, str | list[str]] = {
        "pause": "",
        "frequency": "daily",
        "time": "07:00",
        "weekday": "mon",
        "timezone": "Europe/Berlin",
        "include": "harbor",
        "exclude": "",
        "email": "on",
    }
    pairs: list[tuple[str, str]] = []
    for name, value in (base | fields).items():
        for one in value if isinstance(value, list) else [value]:
            pairs.append((name, one))
    return pairs


def test_without_a_stored_row_the_config_is_the_subscriber() -> None:
    assert effective(ANN, None, NOW) == ANN


def test_stored_choices_win_over_the_config_and_the_public_id_is_set() -> None:
    chosen = Preferences(
        schedule="weekly fri 18:30",
        timezone="America/New_York",
        tags=("Tech",),
        include=(),
        exclude=("/sport(s)?/",),
        email=False,
    )
    found = effective(ANN, standing(preferences=chosen), NOW)
    assert found.public_id == "pub-ann" and found.hold == ""
    assert (found.schedule, found.cron) == ("weekly fri 18:30", "30 18 * * fri")
    assert found.timezone == "America/New_York" and found.tags == ("Tech",)
    assert found.include == () and found.exclude == ("/sport(s)?/",)
    assert found.deliver == ("markdown",)
    assert found.email == ANN.email and found.key == "ann@example.org"


def test_email_off_on_an_email_only_subscriber_leaves_the_archive_alone() -> None:
    only = Subscriber("bo@example.org", "daily 07:00", "0 7 * * *")
    found = effective(only, standing(preferences=Preferences(email=False)), NOW)
    assert found.deliver == () and found.hold == ""


def test_an_unsubscribed_person_is_held_with_the_day_and_the_way() -> None:
    gone = standing(
        state="unsubscribed",
        unsubscribed_at=datetime(2026, 11, 30, 23, 30, tzinfo=UTC),
        unsubscribed_via="one-click",
    )
    # 23:30 UTC is already 1 December in Berlin, the subscriber's zone.
    assert effective(ANN, gone, NOW).hold == "unsubscribed on 2026-12-01 (one-click)"


def test_a_pause_holds_until_the_start_of_its_day_in_the_subscribers_zone() -> None:
    ends = datetime(2026, 12, 8, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
    paused = standing(preferences=Preferences(paused_until=ends))
    assert effective(ANN, paused, NOW).hold == "paused until 8 December 2026"
    assert effective(ANN, paused, ends - timedelta(seconds=1)).hold != ""
    assert effective(ANN, paused, ends).hold == ""


moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
choices = st.builds(
    Preferences,
    paused_until=st.none() | moments,
    schedule=st.sampled_from([None, "daily 06:00", "weekly sun 21:15"]),
    timezone=st.sampled_from([None, "UTC", "Asia/Kolkata", "Pacific/Chatham"]),
    email=st.sampled_from([None, True, False]),
)


@given(choices, moments, st.none() | moments, st.sampled_from(["one-click", "web", "command"]))
def test_an_unsubscribed_person_is_never_sent_anything(
    chosen: Preferences, now: datetime, when: datetime | None, via: str
) -> None:
    gone = standing(
        state="unsubscribed", unsubscribed_at=when, unsubscribed_via=via, preferences=chosen
    )
    assert effective(ANN, gone, now).hold.startswith("unsubscribed")


@given(choices, moments)
def test_a_pause_ends_at_its_date_and_holds_before_it(chosen: Preferences, now: datetime) -> None:
    found = effective(ANN, standing(preferences=chosen), now)
    until = chosen.paused_until
    if until is not None and now < until:
        assert found.hold.startswith("paused until ")
    else:
        assert found.hold == ""


def test_a_form_like_the_config_stores_nothing_of_its_own() -> None:
    assert from_form(form(), ANN, TAGS, NOW) == Preferences()
    assert from_form(form(tags=["WORLD"]), ANN, TAGS, NOW) == Preferences()


def test_a_form_stores_what_differs_from_the_config() -> None:
    chosen = from_form(
        form(
            frequency="weekly",
            weekday="fri",
            time="6:05",
            timezone="Asia/Tokyo",
            tags=["tech", "Science"],
            include="",
            exclude="football\n\n /transfer (news|rumours?)/ \nfootball",
            email="",
        ),
        ANN,
        TAGS,
        NOW,
    )
    assert chosen == Preferences(
        schedule="weekly fri 06:05",
        timezone="Asia/Tokyo",
        tags=("Science", "Tech"),  # the admin's order and spelling
        include=(),
        exclude=("football", "/transfer (news|rumours?)/"),
        email=False,
    )


def test_pauses_end_at_the_start_of_a_day_in_the_chosen_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")

    def start(day: int, month: int = 12, year: int = 2026) -> datetime:
        return datetime(year, month, day, tzinfo=berlin).astimezone(UTC)

    assert from_form(form(pause="week"), ANN, TAGS, NOW).paused_until == start(8)
    assert from_form(form(pause="month"), ANN, TAGS, NOW).paused_until == start(1, 1, 2027)
    until = from_form(form(pause="until", pause_until="2027-02-14"), ANN, TAGS, NOW)
    assert until.paused_until == start(14, 2, 2027)
    current = Preferences(paused_until=start(20))
    kept = from_form(form(), ANN, TAGS, NOW, current=current)
    assert kept.paused_until == start(20)
    assert from_form(form(pause="resume"), ANN, TAGS, NOW, current=current).paused_until is None
    ended = Preferences(paused_until=NOW - timedelta(days=1))
    assert from_form(form(), ANN, TAGS, NOW, current=ended).paused_until is None


def test_a_month_from_the_31st_ends_on_the_last_day_of_a_shorter_month() -> None:
    now = datetime(2027, 1, 31, 12, tzinfo=UTC)
    chosen = from_form(form(pause="month", timezone="UTC"), ANN, TAGS, now)
    assert chosen.paused_until == datetime(2027, 2, 28, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"pause": "forever"}, "pause", "choose"),
        ({"pause": "until", "pause_until": "8/12/2026"}, "pause_until", "YYYY-MM-DD"),
        ({"pause": "until", "pause_until": "2026-02-30"}, "pause_until", "not a date"),
        ({"pause": "until", "pause_until": "2026-12-01"}, "pause_until", "after today"),
        ({"pause": "until", "pause_until": "2028-12-01"}, "pause_until", "a year at most"),
        ({"frequency": "hourly"}, "frequency", '"daily" or "weekly"'),
        ({"time": "24:00"}, "time", "HH:MM"),
        ({"time": "seven"}, "time", "HH:MM"),
        ({"frequency": "weekly", "weekday": "someday"}, "weekday", "day of the week"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Europe/Berlin"),
        ({"tags": ["world", "gossip"]}, "tags", "'gossip' is not one of the tags"),
        ({"include": "/(unclosed/"}, "include", "'/(unclosed/'"),
        ({"exclude": "/a(?=b)/"}, "exclude", "'/a(?=b)/'"),
        ({"exclude": "x" * 201}, "exclude", "at most 200 characters"),
        ({"include": "\n".join(f"w{n}" for n in range(51))}, "include", "at most 50 rules"),
    ],
)
def test_a_bad_field_is_named_with_what_to_do(
    fields: dict[str, str | list[str]], field: str, says: str
) -> None:
    with pytest.raises(PreferenceError) as caught:
        from_form(form(**fields), ANN, TAGS, NOW)
    assert set(caught.value.problems) == {field}
    assert says in caught.value.problems[field]
    assert "not saved" in str(caught.value)


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(PreferenceError) as caught:
        from_form(form(time="25:00", timezone="Nowhere", tags=["gossip"]), ANN, TAGS, NOW)
    assert set(caught.value.problems) == {"time", "timezone", "tags"}


def test_email_cannot_be_turned_on_where_the_admin_gave_only_markdown() -> None:
    files = Subscriber("cy@example.org", "daily 07:00", "0 7 * * *", deliver=("markdown",))
    assert from_form(form(email="on"), files, TAGS, NOW).email is None
    assert from_form(form(email=""), files, TAGS, NOW).email is None
