"""The Docker image's commands as plain processes, and the compose file against the config's names.

No Docker engine is needed: the Dockerfile's ENV, ENTRYPOINT + CMD, HEALTHCHECK and STOPSIGNAL
are read from the file and run here with /config and /data mapped to temporary folders. The
compose file is checked against the config's names, and by `docker compose config` (or v1's
`docker-compose config`) where one is installed; neither needs an engine.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit
import yaml
from processes import BROADSHEET, environment, wait_for
from server import FeedServer
from smtp import free_port

from broadsheet.config import ENV_OVERRIDES
from digests.settings import WebSettings

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def instruction(name: str) -> str:
    """The (joined) arguments of the last ``name`` instruction of the Dockerfile."""
    text = DOCKERFILE.replace("\\\n", " ")
    return re.findall(rf"^{name}\s+(.+)$", text, flags=re.M)[-1].strip()


def exec_form(name: str) -> list[str]:
    return json.loads(instruction(name).split("CMD", 1)[-1].strip())


def docker_env(config_dir: Path, data_dir: Path) -> dict[str, str]:
    pairs = re.findall(r"(\w+)=(\S+)", instruction("ENV"))
    mapped = {
        key: value.replace("/config", str(config_dir)).replace("/data", str(data_dir))
        for key, value in pairs
    }
    return {k: v for k, v in mapped.items() if k.startswith("BROADSHEET_")}


def test_the_image_runs_the_worker_reports_health_and_stops_on_its_signal(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    config_dir, data_dir = tmp_path / "config", tmp_path / "data"
    config_dir.mkdir()
    data_dir.mkdir()
    document = tomlkit.parse((REPO / "config" / "broadsheet.toml").read_text())
    del document["feeds"][1:]
    document["feeds"][0]["url"] = feed_server.url("/recent/newswire.rss")  # not backlog
    document["poll"]["allow_private"] = True  # type: ignore[index]  # the server is on 127.0.0.1
    (config_dir / "broadsheet.toml").write_text(tomlkit.dumps(document))
    config_dir.chmod(0o555)  # mounted read-only
    env = environment(docker_env(config_dir, data_dir))
    assert env["BROADSHEET_DATABASE_URL"] == f"sqlite:///{data_dir}/broadsheet.db"

    entrypoint, command = exec_form("ENTRYPOINT"), exec_form("CMD")
    assert entrypoint == ["broadsheet"] and command == ["worker"]
    health = exec_form("HEALTHCHECK")
    assert health[0] == "broadsheet"

    def healthy() -> bool:
        probe = subprocess.run([*BROADSHEET, *health[1:]], env=env, capture_output=True, text=True)
        return probe.returncode == 0

    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        worker = subprocess.Popen([*BROADSHEET, *command], env=env, cwd=tmp_path, stderr=log_file)
        try:
            wait_for(healthy, "the HEALTHCHECK to pass")
            wait_for(lambda: list((data_dir / "out").rglob("*.md")), "a Markdown digest in /data")
            worker.send_signal(getattr(signal, instruction("STOPSIGNAL")))
            worker.wait(timeout=120)
        finally:
            worker.kill()
            worker.wait()
            config_dir.chmod(0o755)
    log = log_path.read_text()
    assert worker.returncode == 0, log
    assert "stopped cleanly" in log
    assert not list(config_dir.glob("data")), "nothing may be written under /config"


def test_compose_uses_only_names_the_config_knows() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"worker", "worker-pg", "postgres", "mailpit"} <= set(services)
    assert "profiles" not in services["worker"]
    assert all(
        services[name]["profiles"] == ["full"] for name in ("worker-pg", "postgres", "mailpit")
    )
    known = set(ENV_OVERRIDES) | {
        "BROADSHEET_LOG_FORMAT",
        "BROADSHEET_SMTP_PASSWORD",
        "BROADSHEET_CONFIG",
        "BROADSHEET_SECRET_KEY",  # [web] secret_env's default
    }
    for name in ("worker", "worker-pg", "web"):
        service = services[name]
        assert set(service.get("environment", {})) <= known, name
        assert "./config:/config:ro" in service["volumes"] and "data:/data" in service["volumes"]
    url = services["worker-pg"]["environment"]["BROADSHEET_DATABASE_URL"]
    postgres = services["postgres"]["environment"]
    assert f"{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@postgres" in url
    assert url.endswith(f"/{postgres['POSTGRES_DB']}")


def test_the_compose_web_service_serves_the_pages_and_its_healthcheck_passes(
    tmp_path: Path,
) -> None:
    web = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["web"]
    assert web["command"] == ["web", "--host", "0.0.0.0"] and web["profiles"] == ["web"]
    assert web["ports"] == [f"127.0.0.1:{WebSettings().port}:{WebSettings().port}"]
    assert "BROADSHEET_SECRET_KEY" in web["environment"]
    config_dir, data_dir = tmp_path / "config", tmp_path / "data"
    config_dir.mkdir()
    data_dir.mkdir()
    shutil.copy(REPO / "config" / "broadsheet.toml", config_dir / "broadsheet.toml")
    key = {"BROADSHEET_SECRET_KEY": "k" * 43}
    env = environment(docker_env(config_dir, data_dir) | key)
    port = free_port()
    probe = web["healthcheck"]["test"]
    assert probe[:3] == ["CMD", "python", "-c"] and f":{WebSettings().port}/healthz" in probe[3]
    check = [sys.executable, "-c", probe[3].replace(f":{WebSettings().port}/", f":{port}/")]

    def healthy() -> bool:
        return subprocess.run(check, env=env, capture_output=True).returncode == 0

    assert not healthy()  # nothing listens yet
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(
            [*BROADSHEET, *web["command"], "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stderr=log_file,
        )
        try:
            wait_for(healthy, "the web service's healthcheck to pass")
        finally:
            server.kill()
            server.wait()
    assert "base_url is empty" in log_path.read_text()


def compose_command() -> list[str] | None:
    """`docker compose` (v2) or `docker-compose` (v1), whichever this machine has; else None."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return command
    return None


@pytest.mark.parametrize("profile", [[], ["--profile", "full"]], ids=["default", "full"])
def test_compose_file_is_valid_for_docker_compose(profile: list[str]) -> None:
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed here")
    done = subprocess.run(
        [*command, *profile, "config", "--quiet"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
