"""`broadsheet check` on [web]: whether digests offer one-click unsubscribe, and what stops them."""

from __future__ import annotations

from pathlib import Path

import pytest
from processes import cli, run, write_config

KEY = "k" * 43  # as long as `broadsheet web --new-secret` prints


def web_config(tmp_path: Path, **web: str) -> Path:
    """A config with one e-mail subscriber and this [web] table (none when empty)."""
    tables = {"web": web} if web else {}
    return write_config(
        tmp_path / "broadsheet.toml",
        ["https://wire.example/feed"],
        [{"email": "ann@example.org"}],
        **tables,
    )


def test_without_base_url_check_says_one_click_is_off(tmp_path: Path) -> None:
    code, out, err = cli(web_config(tmp_path), "check")
    assert code == 0, out + err
    assert (
        "  web          one-click unsubscribe: off (no [web] base_url: digests carry only the "
        "mailto: address)\n" in out
    )
    assert "warning" not in err


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_with_base_url_check_says_one_click_is_on_and_warns_unless_https(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    monkeypatch.setenv("TEST_WEB_KEY", KEY)
    base = f"{scheme}://news.example.org"
    code, out, err = cli(
        web_config(tmp_path, base_url=f"{base}/", secret_env="TEST_WEB_KEY"), "check"
    )
    assert code == 0, out + err
    assert f"  web          one-click unsubscribe: on ({base})\n" in out
    flat = " ".join(err.split())
    if scheme == "https":
        assert "warning" not in err
        return
    assert f"warning: web.base_url: {base} is not https" in flat
    assert "RFC 8058" in flat and "Gmail" in flat and "https://" in flat


@pytest.mark.parametrize(
    ("key", "state"), [(None, "is not set"), ("too-short", "holds fewer than 32 characters")]
)
def test_base_url_without_a_usable_signing_key_names_the_command_that_makes_one(
    tmp_path: Path, key: str | None, state: str
) -> None:
    path = web_config(tmp_path, base_url="https://news.example.org")
    env = {"BROADSHEET_SECRET_KEY": key} if key else {}
    result = run(path, "check", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    flat = " ".join(result.stderr.split())
    assert "web.base_url: links to https://news.example.org are signed with the key in" in flat
    assert f"$BROADSHEET_SECRET_KEY, which {state}" in flat
    # whole, as a person can paste it (the output's secret masking leaves it alone)
    assert 'export BROADSHEET_SECRET_KEY="$(broadsheet web --new-secret)"' in flat
    assert "Fix them and run `broadsheet check` again." in flat
    assert key is None or key not in result.stdout + result.stderr.replace("fewer", "")


def test_a_long_enough_key_in_the_environment_is_accepted(tmp_path: Path) -> None:
    path = web_config(tmp_path, base_url="https://news.example.org")
    result = run(path, "check", env={"BROADSHEET_SECRET_KEY": KEY})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "one-click unsubscribe: on (https://news.example.org)" in result.stdout
    assert KEY not in result.stdout + result.stderr
