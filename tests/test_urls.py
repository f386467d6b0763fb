"""Canonical links: absolute, normalised, without tracking parameters."""

from __future__ import annotations

import pytest

from ingest.urls import (
    canonical_link,
    is_tracking_param,
    is_web_url,
    resolve_url,
    story_link,
    strip_tracking,
)

BASE = "https://news.example/feed/"


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (
            "https://news.example/2022/03/30/offer/?utm_source=rss&utm_medium=rss&utm_campaign=x",
            "https://news.example/2022/03/30/offer/",
        ),
        ("https://news.example/a?id=7&utm_source=rss&page=2", "https://news.example/a?id=7&page=2"),
        ("https://news.example/a?fbclid=abc&gclid=1&msclkid=2&yclid=3", "https://news.example/a"),
        (
            "https://news.example/a?mc_cid=1&mc_eid=2&_hsenc=3&_hsmi=4&igshid=5",
            "https://news.example/a",
        ),
        (
            "https://news.example/a?ref_src=twsrc&at_medium=RSS&at_campaign=KARANGA",
            "https://news.example/a",
        ),
        ("https://news.example/a?UTM_Source=x&Keep=Yes", "https://news.example/a?Keep=Yes"),
        ("https://news.example/a?q=a%20b&x=1+2", "https://news.example/a?q=a%20b&x=1+2"),
        ("HTTPS://News.Example:443/Path/Case", "https://news.example/Path/Case"),
        ("http://news.example:80/a", "http://news.example/a"),
        ("http://news.example:8080/a", "http://news.example:8080/a"),
        ("https://news.example/a#comments", "https://news.example/a#comments"),
        (
            "https://blog.example/post/#comment-713578640",
            "https://blog.example/post/#comment-713578640",
        ),
        (
            "https://groups.example/forum/#!topic/golang-nuts/AbC123",
            "https://groups.example/forum/#!topic/golang-nuts/AbC123",
        ),
        (
            "https://app.example/#/story/7?utm_source=x",
            "https://app.example/#/story/7?utm_source=x",
        ),
        ("https://news.example/a#utm_source=feed&utm_medium=rss", "https://news.example/a"),
        ("https://news.example/a#page=2&utm_source=feed", "https://news.example/a#page=2"),
        ("https://news.example/a#", "https://news.example/a"),
        ("https://news.example", "https://news.example/"),
        ("/2022/03/30/story/", "https://news.example/2022/03/30/story/"),
        ("story", "https://news.example/feed/story"),
        ("//cdn.example/a", "https://cdn.example/a"),
        ("  https://news.example/a  ", "https://news.example/a"),
        ("https://[2001:db8::1]:443/a", "https://[2001:db8::1]/a"),
        ("https://user@news.example/a", "https://user@news.example/a"),
    ],
)
def test_canonical_link(link: str, expected: str) -> None:
    assert canonical_link(link, BASE) == expected


@pytest.mark.parametrize(
    "link",
    [
        None,
        "",
        "   ",
        "javascript:alert(1)",
        "mailto:desk@news.example",
        "ftp://files.example/a",
        "data:text/html,hi",
        "https://news.example:99999/a",
        "https://[::1/a",
    ],
)
def test_canonical_link_refuses_non_web_links(link: str | None) -> None:
    assert canonical_link(link, BASE) is None


def test_canonical_link_is_stable_under_changed_tracking() -> None:
    first = canonical_link("https://news.example/a?id=1&utm_source=rss", BASE)
    second = canonical_link("https://news.example/a?utm_campaign=mail&id=1&fbclid=zz", BASE)
    assert first == second == "https://news.example/a?id=1"


def test_tracking_params() -> None:
    assert is_tracking_param("utm_term")
    assert is_tracking_param("utm%5Fsource")
    assert not is_tracking_param("utmost")
    assert not is_tracking_param("id")
    assert strip_tracking("a=1&&utm_x=2&b") == "a=1&b"


def test_resolve_url() -> None:
    assert resolve_url("/a.jpg", BASE) == "https://news.example/a.jpg"
    assert (
        resolve_url("https://x.example/a?utm_source=1", BASE) == "https://x.example/a?utm_source=1"
    )
    assert resolve_url("javascript:x", BASE) is None
    assert resolve_url(None, BASE) is None
    assert resolve_url("a.jpg", None) is None


def test_story_link_drops_a_fragment_but_not_a_route() -> None:
    assert story_link("https://blog.example/post/#comment-1") == "https://blog.example/post/"
    assert story_link("https://news.example/a") == "https://news.example/a"
    for route in ("https://groups.example/forum/#!topic/a", "https://app.example/#/story/7"):
        assert story_link(route) == route


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://news.example/a", True),
        ("HTTP://news.example/#!x", True),
        ("12345", False),
        ("right", False),
        ("/2024/post", False),
        ("urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a", False),
        ("tag:news.example,2024:7", False),
        ("http:///no-host", False),
        ("https://[::1/a", False),
        (None, False),
    ],
)
def test_is_web_url(value: str | None, expected: bool) -> None:
    assert is_web_url(value) is expected
