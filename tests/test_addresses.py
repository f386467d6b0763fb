"""Private networks: which addresses a fetch may reach, checked where the connection is made."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from processes import cli, write_config
from server import FeedServer, redirect
from typer.testing import CliRunner

from broadsheet.cli import app
from ingest.addresses import address_kind, check_address, host_problem
from ingest.errors import FetchError, PrivateAddress
from ingest.fetch import fetch_one
from ingest.models import PollSettings

SETTINGS = PollSettings(connect_timeout=2.0, read_timeout=2.0, timeout=5.0, user_agent="test")
ADVICE = "[poll] allow_private is false; set it to true for intranet feeds"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.3.2.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.16.0.1", "a private address"),
        ("172.31.255.254", "a private address"),
        ("192.168.1.10", "a private address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata
        ("169.254.0.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fe80::1%eth0", "a link-local address"),
        ("febf::1", "a link-local address"),
        ("fc00::1", "a unique-local address"),
        ("fd12:3456:789a::1", "a unique-local address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("239.255.255.250", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "a non-public address"),  # carrier-grade NAT
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped
        ("::ffff:10.1.2.3", "a private address"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("::ffff:0.0.0.0", "an unspecified address"),
        ("64:ff9b::7f00:1", "a loopback address"),  # NAT64 of 127.0.0.1
        ("2002:a00:1::", "a private address"),  # 6to4 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_named(address: str, kind: str) -> None:
    assert address_kind(address) == kind
    with pytest.raises(PrivateAddress) as caught:
        check_address(address, "feeds.example", allow_private=False)
    assert str(caught.value) == (
        f"refused to connect to {address} ({kind}) for feeds.example: {ADVICE}"
    )
    check_address(address, "feeds.example", allow_private=True)  # allowed: no error


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "1.1.1.1",
        "172.32.0.1",
        "192.169.0.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert address_kind(address) is None
    check_address(address, "feeds.example", allow_private=False)


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("feeds.example", None),
        ("feeds.example.", None),
        ("xn--zca.de", None),
        ("127.0.0.1", None),
        ("::1", None),
        ("", "it has no host name"),
        ("a..b", "'a..b' is not a valid host name"),
        ("exa%20mple.com", "'exa%20mple.com' is not a valid host name"),
        ("a%00b", "'a%00b' is not a valid host name"),
        ("x" * 64 + ".example", "is not a valid host name"),
        ("a." * 130 + "example", "its host name is 267 characters long (at most 253)"),
    ],
)
def test_host_names(host: str, problem: str | None) -> None:
    found = host_problem(host)
    assert found == problem if problem is None else problem in (found or "")


# -- at connect time, against the real server ----------------------------------------------


def test_a_loopback_feed_is_refused_before_any_request(feed_server: FeedServer) -> None:
    url = feed_server.gen_url(1)
    with pytest.raises(PrivateAddress) as caught:
        fetch_one(url, SETTINGS)
    assert (
        str(caught.value)
        == f"refused to connect to 127.0.0.1 (a loopback address) for 127.0.0.1: {ADVICE}"
    )
    assert feed_server.requests == []
    fetched = fetch_one(url, replace(SETTINGS, allow_private=True))
    assert fetched.status == 200 and feed_server.hits("/gen/1.xml") == 1


def test_a_name_that_resolves_to_loopback_is_refused(feed_server: FeedServer) -> None:
    url = feed_server.gen_url(2, host="localhost")
    with pytest.raises(PrivateAddress) as caught:
        fetch_one(url, SETTINGS)
    assert str(caught.value) in {
        f"refused to connect to {address} (a loopback address) for localhost: {ADVICE}"
        for address in ("127.0.0.1", "::1")
    }
    assert feed_server.requests == []
    assert fetch_one(url, replace(SETTINGS, allow_private=True)).status == 200


@pytest.mark.parametrize("host", ["[::ffff:127.0.0.1]", "0.0.0.0", "127.1"])
def test_other_spellings_of_this_machine_are_refused(feed_server: FeedServer, host: str) -> None:
    with pytest.raises(PrivateAddress, match=r"^refused to connect to "):
        fetch_one(f"http://{host}:{feed_server.port}/gen/3.xml", SETTINGS)
    assert feed_server.requests == []


def test_behind_a_proxy_a_redirect_to_a_private_address_is_refused(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy (the admin's, so trusted) makes the first hop to a public-looking host; that
    # host redirects to an address on this machine, which the fetch refuses to follow.
    for name in ("NO_PROXY", "no_proxy", "https_proxy", "HTTPS_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", feed_server.base_url)
    feed_server.route("/moved.xml", redirect("http://169.254.169.254/latest/meta-data/", 302))
    with pytest.raises(
        PrivateAddress, match=r"^refused to connect to 169\.254\.169\.254 \(a link-local"
    ):
        fetch_one("http://feeds.example/moved.xml", SETTINGS)
    assert [r.path for r in feed_server.requests] == ["/moved.xml"]  # only the first hop


def test_poll_stores_the_refusal_on_the_feed(tmp_path: Path, feed_server: FeedServer) -> None:
    url = feed_server.gen_url(4)
    path = write_config(tmp_path / "broadsheet.toml", [url], poll={"allow_private": False})
    code, out, err = cli(path, "poll", "--json")
    assert code == 0, err
    assert json.loads(out)["failed"] == 1
    assert feed_server.requests == []
    code, out, err = cli(path, "feeds", "--json")
    (row,) = json.loads(out)
    assert row["last_error"] == (
        f"refused to connect to 127.0.0.1 (a loopback address) for 127.0.0.1: {ADVICE}"
    )


def test_discover_follows_the_same_rule(tmp_path: Path, feed_server: FeedServer) -> None:
    path = tmp_path / "broadsheet.toml"
    path.write_text("")  # allow_private defaults to false
    result = CliRunner().invoke(
        app,
        ["feeds", "discover", feed_server.url("/fixtures/page-with-feeds.html"), "-c", str(path)],
    )
    assert result.exit_code == 1
    assert (
        f"refused to connect to 127.0.0.1 (a loopback address) for 127.0.0.1: {ADVICE}"
        in result.output
    )
    assert feed_server.requests == []


def test_allow_private_must_be_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "broadsheet.toml"
    path.write_text('[poll]\nallow_private = "yes"\n')
    result = CliRunner().invoke(app, ["check", "-c", str(path)])
    assert result.exit_code == 2
    assert "poll.allow_private: expected true or false" in result.output


def test_fetch_errors_are_fetch_errors() -> None:
    assert issubclass(PrivateAddress, FetchError)
