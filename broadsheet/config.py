"""Load ``broadsheet.toml`` once, check all of it, and hand typed settings down.

Every problem is reported at once, each naming the file, the key path (``feeds[3].url``) and what
was expected. Unknown keys are errors: they are nearly always typos.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from broadsheet import USER_AGENT, alert_table, smtp_table, subscriber_table
from broadsheet.checks import (
    Checker,
    address,
    duration,
    header_text,
    http_url,
    kind,
    list_id,
    size,
)
from broadsheet.checks import weight as feed_weight
from digests.settings import (
    AlertSettings,
    DigestSettings,
    SmtpSettings,
    Subscriber,
    WebSettings,
)
from ingest.errors import ConfigError
from ingest.models import FeedSpec, PollSettings
from ingest.redact import mask_url
from ingest.store.urls import url_problem

DEFAULT_PATH = Path("config/broadsheet.toml")
ENV_VAR = "BROADSHEET_CONFIG"


@dataclass(frozen=True)
class WorkerSettings:
    """The ``[worker]`` table."""

    poll_every: float = 60.0
    shutdown_timeout: float = 30.0
    log_format: str = "text"  # text | json
    healthy_within: float = 600.0  # "10m"


@dataclass(frozen=True)
class Settings:
    """Everything in the config file, validated."""

    path: Path
    storage_url: str
    poll: PollSettings
    feeds: tuple[FeedSpec, ...]
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    digests: DigestSettings = field(default_factory=DigestSettings)
    subscribers: tuple[Subscriber, ...] = ()
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    web: WebSettings = field(default_factory=WebSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)

    @property
    def base(self) -> Path:
        """The folder relative paths in the config are resolved against."""
        return self.path.parent


def locate(path: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: ``--config``, else ``$BROADSHEET_CONFIG``, else the default."""
    if path:
        return Path(path)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return DEFAULT_PATH


def load(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the config file; raise ConfigError listing every problem."""
    file = locate(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            [f"{file}: no such config file (pass --config PATH or set {ENV_VAR})"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file}: cannot read the config file: {exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{file}: not valid TOML: {exc}"]) from exc
    return parse(apply_environment(raw, os.environ), file)


# Environment variables that override a key: for secrets (a database URL with a password) and
# for containers, where the config is read-only and data lives elsewhere.
ENV_OVERRIDES = {
    "BROADSHEET_DATABASE_URL": ("storage", "url"),
    "BROADSHEET_OUTPUT_DIR": ("digests", "output_dir"),
    "BROADSHEET_SMTP_HOST": ("smtp", "host"),
    "BROADSHEET_SMTP_PORT": ("smtp", "port"),
    "BROADSHEET_SMTP_SECURITY": ("smtp", "security"),
}


def apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """``raw`` with the keys that ``ENV_OVERRIDES`` variables set in ``environ`` replaced."""
    for variable, (table, key) in ENV_OVERRIDES.items():
        value: Any = environ.get(variable)
        if value:
            section = raw.setdefault(table, {})
            if isinstance(section, dict):
                section[key] = int(value) if key == "port" and value.isdigit() else value
    return raw


def parse(raw: dict[str, Any], file: Path) -> Settings:
    """Validate an already-decoded config; ``file`` names it in messages and anchors paths."""
    check = Checker(file)
    check.keys(
        raw,
        "",
        {"storage", "poll", "feeds", "smtp", "digests", "subscribers", "worker", "web", "alerts"},
    )
    base = file.resolve().parent
    storage = check.table(raw, "storage", {"url"})
    storage_url = _storage_url(check, storage.get("url", "sqlite:///data/broadsheet.db"), base)
    poll = _poll(check, check.table(raw, "poll", _POLL_KEYS))
    feeds = tuple(_feeds(check, raw.get("feeds", [])))
    smtp = smtp_table.smtp(check, check.table(raw, "smtp", smtp_table.KEYS))
    digests = _digests(check, check.table(raw, "digests", _DIGEST_KEYS), base)
    subscribers = tuple(subscriber_table.subscribers(check, raw.get("subscribers", [])))
    worker = _worker(check, check.table(raw, "worker", _WORKER_KEYS))
    web = _web(check, check.table(raw, "web", _WEB_KEYS))
    alerts = alert_table.alerts(check, check.table(raw, "alerts", alert_table.KEYS))
    if check.problems:
        raise ConfigError(check.problems)
    return Settings(file, storage_url, poll, feeds, smtp, digests, subscribers, worker, web, alerts)


def _storage_url(check: Checker, url: Any, base: Path) -> str:
    default = f"sqlite:///{base / 'data' / 'broadsheet.db'}"
    if not isinstance(url, str):
        check.fail("storage.url", f"expected a database URL string, got {kind(url)}")
        return default
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:" and not Path(path).is_absolute():
            url = f"sqlite:///{base / path}"
    elif url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        url = url.replace("postgres://", "postgresql://", 1)
    else:
        check.fail(
            "storage.url",
            f"expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB, got {mask_url(url)!r}",
        )
        return default
    problem = url_problem(url)
    if problem:
        check.fail("storage.url", problem)
        return default
    return url


_POLL_KEYS = {
    "interval",
    "concurrency",
    "per_host",
    "connect_timeout",
    "read_timeout",
    "timeout",
    "max_bytes",
    "max_article_bytes",
    "article_timeout",
    "max_redirects",
    "user_agent",
    "max_backoff",
    "max_cache_interval",
    "workers",
    "lease",
    "allow_private",
}


MAX_WORKERS = 64  # parser processes: more only costs memory


def _poll(check: Checker, table: dict[str, Any]) -> PollSettings:
    d = PollSettings()
    durations = {
        k: check.converted(table, k, "poll", duration, getattr(d, k))
        for k in (
            "interval",
            "connect_timeout",
            "read_timeout",
            "timeout",
            "max_backoff",
            "max_cache_interval",
            "lease",
            "article_timeout",
        )
    }
    workers = check.typed(table, "workers", "poll", int, d.workers)
    if not 0 <= workers <= MAX_WORKERS:
        check.fail("poll.workers", f"expected 0 (one per CPU) to {MAX_WORKERS}, got {workers}")
        workers = d.workers
    redirects = check.typed(table, "max_redirects", "poll", int, d.max_redirects)
    if not 0 <= redirects <= 20:
        check.fail("poll.max_redirects", f"expected 0 to 20, got {redirects}")
    return PollSettings(
        concurrency=check.positive(table, "concurrency", "poll", d.concurrency, 1000),
        per_host=check.positive(table, "per_host", "poll", d.per_host, 100),
        max_bytes=check.converted(table, "max_bytes", "poll", size, d.max_bytes),
        max_article_bytes=check.converted(
            table, "max_article_bytes", "poll", size, d.max_article_bytes
        ),
        max_redirects=redirects,
        user_agent=check.typed(table, "user_agent", "poll", str, "") or USER_AGENT,
        workers=workers,
        allow_private=check.typed(table, "allow_private", "poll", bool, d.allow_private),
        **durations,
    )


def _feeds(check: Checker, raw: Any) -> list[FeedSpec]:
    feeds: list[FeedSpec] = []
    seen: dict[str, str] = {}
    for where, item in check.array(raw, "feeds"):
        check.keys(
            item, where, {"url", "title", "tags", "interval", "enabled", "weight", "full_text"}
        )
        url = None
        if "url" not in item:
            check.fail(where, 'missing key "url" (the feed\'s address)')
        elif (url := check.converted(item, "url", where, http_url, None)) in seen:
            check.fail(f"{where}.url", f"{url} is listed twice (also at {seen[url]})")
            url = None
        # The other keys are checked either way: every problem at once.
        title = check.typed(item, "title", where, str, None)
        tags = check.strings(item, "tags", where)
        interval = check.converted(item, "interval", where, duration, None)
        enabled = check.typed(item, "enabled", where, bool, True)
        full_text = check.typed(item, "full_text", where, bool, False)
        weight = check.converted(item, "weight", where, feed_weight, 1.0)
        if url is not None:
            seen[url] = where
            feeds.append(
                FeedSpec(
                    url=url,
                    title=title,
                    tags=tags,
                    interval=interval,
                    enabled=enabled,
                    weight=weight,
                    full_text=full_text,
                )
            )
    return feeds


_DIGEST_KEYS = {
    "title",
    "output_dir",
    "send_empty",
    "templates",
    "excerpt_length",
    "list_id",
    "unsubscribe",
    "retry_base",
    "retry_max",
}


def _not_a_folder(path: Path) -> str | None:
    """Why ``path`` is not a folder that can be read, or None when it is one."""
    try:
        if path.is_dir():
            return None
    except OSError as error:  # a name too long, a folder we may not enter...
        return f"{path} cannot be read ({error.strerror or error})"
    return f"{path} is not one"


def _digests(check: Checker, table: dict[str, Any], base: Path) -> DigestSettings:
    d = DigestSettings()
    templates = check.typed(table, "templates", "digests", str, "")
    if templates and (problem := _not_a_folder(base / templates)):
        check.fail("digests.templates", f"expected a folder of templates, {problem}")
    excerpt = check.typed(table, "excerpt_length", "digests", int, d.excerpt_length)
    if excerpt < 0:
        check.fail("digests.excerpt_length", f"expected 0 (no excerpt) or more, got {excerpt}")
    unsubscribe = table.get("unsubscribe", "")
    return DigestSettings(
        title=check.converted(table, "title", "digests", header_text, d.title),
        output_dir=base / check.typed(table, "output_dir", "digests", str, str(d.output_dir)),
        send_empty=check.typed(table, "send_empty", "digests", bool, d.send_empty),
        templates=(base / templates) if templates else None,
        excerpt_length=max(excerpt, 0),
        list_id=check.converted(table, "list_id", "digests", list_id, d.list_id),
        unsubscribe=check.converted(table, "unsubscribe", "digests", address, "")
        if unsubscribe
        else "",
        retry_base=check.converted(table, "retry_base", "digests", duration, d.retry_base),
        retry_max=check.converted(table, "retry_max", "digests", duration, d.retry_max),
    )


_WORKER_KEYS = {"poll_every", "shutdown_timeout", "log_format", "healthy_within"}


def _worker(check: Checker, table: dict[str, Any]) -> WorkerSettings:
    d = WorkerSettings()
    log_format = check.typed(table, "log_format", "worker", str, d.log_format)
    if log_format not in ("text", "json"):
        check.fail("worker.log_format", f'expected "text" or "json", got {log_format!r}')
        log_format = d.log_format
    return WorkerSettings(
        poll_every=check.converted(table, "poll_every", "worker", duration, d.poll_every),
        shutdown_timeout=check.converted(
            table, "shutdown_timeout", "worker", duration, d.shutdown_timeout
        ),
        log_format=log_format,
        healthy_within=check.converted(
            table, "healthy_within", "worker", duration, d.healthy_within
        ),
    )


_WEB_KEYS = {"base_url", "host", "port", "secret_env"}
MIN_SECRET = 32  # characters of the signing key: 'broadsheet web --new-secret' prints 43
NEW_SECRET = "broadsheet web --new-secret"


def _web(check: Checker, table: dict[str, Any]) -> WebSettings:
    d = WebSettings()
    base_url = check.converted(table, "base_url", "web", _base_url, d.base_url)
    port = check.typed(table, "port", "web", int, d.port)
    if not 0 < port < 65536:
        check.fail("web.port", f"expected a port number from 1 to 65535, got {port}")
        port = d.port
    web = WebSettings(
        base_url=base_url,
        host=check.typed(table, "host", "web", str, d.host) or d.host,
        port=port,
        secret_env=check.typed(table, "secret_env", "web", str, d.secret_env),
    )
    if web.base_url and not web.secret_env:
        check.fail("web.secret_env", "expected the name of the variable that holds the signing key")
    elif web.base_url and len(web.secret) < MIN_SECRET:
        state = "is not set" if not web.secret else f"holds fewer than {MIN_SECRET} characters"
        check.fail(
            "web.base_url",
            f"links to {web.base_url} are signed with the key in ${web.secret_env}, which {state}; "
            f'make one with `export {web.secret_env}="$({NEW_SECRET})"` (keep it: changing it '
            "breaks every link already mailed), or empty base_url to send no web links",
        )
    return web


def _base_url(value: Any) -> str:
    """An http(s) URL without query or fragment, with no trailing slash ('' allowed: no links)."""
    if value == "":
        return ""
    url = http_url(value)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"expected the pages' address without ?query or #fragment, got {value!r}")
    return url.rstrip("/")
