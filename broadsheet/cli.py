"""The `broadsheet` command: a thin layer over ingest and digests.

Commands are registered here with their options and help, but each imports what it runs on in
its body: `broadsheet --help` and `broadsheet check` never load the store, the fetcher or the
digests, and `poll` never loads the digests (DEVELOPERS.md, "Start-up"; tests/test_startup.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from broadsheet import (
    __version__,
    alerts_cli,
    digest_cli,
    feeds_cli,
    subscribers_cli,
    web_cli,
)
from broadsheet.output import ConfigOption, JsonOption, err, out, run_or_exit, to_json
from broadsheet.units import format_duration, parse_duration

if TYPE_CHECKING:
    from broadsheet.app import App
    from digests.settings import SmtpSettings
    from ingest.models import FeedState
    from ingest.report import RoundReport

app = typer.Typer(
    help="Broadsheet polls news feeds into a store and delivers calm daily digests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Console entry point."""
    app()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    config: ConfigOption = None,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """Options before the command apply to it; ``--config`` after the command wins."""
    ctx.call_on_close(_close_opened)  # the store a command opens is closed when it ends
    if version:
        out.print(f"broadsheet {__version__}", markup=False)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help(), markup=False)
        raise typer.Exit(2)


def _close_opened() -> None:
    """Close the stores this command opened; none can be open when the app was never imported."""
    opened = sys.modules.get("broadsheet.app")
    if opened is not None:
        opened.close_opened()


@app.command()
def check(config: ConfigOption = None) -> None:
    """Validate the config and print a summary; touches neither the network nor the store."""
    from broadsheet import advice
    from broadsheet.app import App
    from ingest.redact import mask_url

    settings = run_or_exit(lambda: App.load(config).settings)
    enabled = sum(1 for feed in settings.feeds if feed.enabled)
    tags = sorted({tag for feed in settings.feeds for tag in feed.tags})
    out.print(f"{settings.path}: OK", markup=False)
    out.print(f"  storage      {mask_url(settings.storage_url)}", markup=False)
    out.print(
        f"  feeds        {len(settings.feeds)} ({enabled} enabled); tags: {', '.join(tags) or '-'}"
    )
    out.print(f"  subscribers  {len(settings.subscribers)}")
    for subscriber in settings.subscribers:
        deliver = " + ".join(subscriber.deliver)
        order = subscriber.order.replace("_", " ")
        if subscriber.budget:
            order += f", {format_duration(subscriber.budget)} of reading"
        out.print(
            f"    {subscriber.email}: {subscriber.schedule} ({subscriber.timezone}), {deliver}, "
            f"{order}",
            markup=False,
        )
    if any("email" in s.deliver for s in settings.subscribers):
        smtp = settings.smtp
        out.print(
            f"  smtp         {smtp.host}:{smtp.port} ({smtp.security}), from {smtp.sender}",
            markup=False,
        )
        if smtp.dkim_domain:
            _print_dkim(smtp)
    out.print(f"  markdown to  {settings.digests.output_dir}", markup=False)
    alerts = settings.alerts
    if alerts.enabled:
        quiet = f"quiet for {format_duration(alerts.quiet)}" if alerts.quiet else "quiet: off"
        out.print(
            f"  alerts       to {', '.join(alerts.email)}: failing for "
            f"{format_duration(alerts.after)}, {quiet}",
            markup=False,
        )
    if settings.web.enabled:
        out.print(
            f"  web          one-click unsubscribe: on ({settings.web.base_url})", markup=False
        )
    else:
        out.print(
            "  web          one-click unsubscribe: off (no [web] base_url: digests carry only "
            "the mailto: address)",
            markup=False,
        )
    for warning in advice.warnings(settings):
        err.print(f"warning: {warning}", markup=False)


def _print_dkim(smtp: SmtpSettings) -> None:
    """Who signs, with which key, and the DNS record that must publish its public half."""
    from digests import dkim

    key = dkim.load_key(smtp.dkim_key)  # the config check loaded it already
    out.print(
        f"  dkim         signs as {smtp.dkim_domain}, selector {smtp.dkim_selector} "
        f"({key.algorithm} key, {key.bits} bits)",
        markup=False,
    )
    out.print(f"               DNS TXT {dkim.record_name(smtp)}: {key.record}", markup=False)


@app.command("poll")
def poll_command(
    config: ConfigOption = None,
    all_feeds: Annotated[
        bool, typer.Option("--all", help="Poll every feed, ignoring schedules.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """One round over the feeds that are due: fetch, store new entries, print a summary."""
    from broadsheet.app import App

    application = run_or_exit(lambda: App.open(config))
    report = run_or_exit(lambda: poll_round(application, all_feeds, quiet=as_json))
    if as_json:
        out.print(to_json(report.counts()), markup=False)
    else:
        print_round(report)


def print_round(report: RoundReport, shown: int = 20) -> None:
    """The round's summary line, then the first failures, each with its feed."""
    from ingest.poll import OFFLINE

    out.print(report.summary(), markup=False)
    for error in report.errors[:shown]:
        err.print(f"  {error['url']}: {error['error']}", markup=False)
    if len(report.errors) > shown:
        err.print(f"  ... and {len(report.errors) - shown} more; see `broadsheet feeds`")
    if report.offline:
        err.print(f"  {OFFLINE}", markup=False)


def poll_round(application: App, everything: bool, *, quiet: bool) -> RoundReport:
    """One poll round, with a progress bar when a person is watching."""
    from ingest.poll import due_count, poll

    settings = application.settings
    if quiet or not err.is_terminal:
        return poll(application.engine, settings.poll, everything=everything)
    total = due_count(application.engine, everything=everything)
    with _progress(total) as advance:
        return poll(application.engine, settings.poll, everything=everything, progress=advance)


@contextmanager
def _progress(total: int) -> Iterator[Callable[[FeedState, str], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("polling"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("", total=total)

        def advance(feed: FeedState, outcome: str) -> None:
            bar.update(task, advance=1, description=f"{feed.title or feed.url}: {outcome}"[:60])

        yield advance


app.add_typer(feeds_cli.app, name="feeds")
app.add_typer(subscribers_cli.app, name="subscribers")
app.command("digest")(digest_cli.digest)
app.command("preview")(digest_cli.preview)
app.command("web")(web_cli.web)
app.command("alerts")(alerts_cli.alerts)


@app.command("run")
def run_command(
    config: ConfigOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="One poll round, then every digest due; then exit.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """A poll round, then every digest that is due (with --once); exit 3 when a digest failed."""
    if not once:
        err.print("`broadsheet run` needs --once; to run on a schedule use `broadsheet worker`.")
        raise typer.Exit(2)
    from broadsheet.app import App

    application = run_or_exit(lambda: App.open(config))
    report = run_or_exit(lambda: poll_round(application, False, quiet=as_json))
    if not as_json:
        print_round(report)
    digests = digest_cli.deliver(
        application, application.settings.subscribers, force=False, dry_run=False, quiet=as_json
    )
    if as_json:
        polled = report.counts()
        out.print(
            to_json({"poll": polled, "digest": digest_cli.report_dict(digests)}), markup=False
        )
    else:
        digest_cli.print_report(digests, False)
    digest_cli.exit_for(digests)


@app.command("worker")
def worker_command(
    config: ConfigOption = None,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            envvar="BROADSHEET_LOG_FORMAT",
            help="text or json (default: the config's worker.log_format).",
        ),
    ] = None,
) -> None:
    """Run until stopped: poll feeds when due, deliver digests on schedule (SIGHUP reloads config)."""
    from broadsheet import logs
    from broadsheet.app import App
    from broadsheet.worker import Worker  # only the worker needs the scheduler

    application = run_or_exit(lambda: App.open(config))
    chosen = log_format or application.settings.worker.log_format
    if chosen not in ("text", "json"):
        err.print(f"--log-format must be text or json, not {chosen!r}.")
        raise typer.Exit(2)
    logs.configure(chosen)
    raise typer.Exit(Worker(config, application).run())


@app.command("health")
def health_command(
    config: ConfigOption = None,
    within: Annotated[
        str | None,
        typer.Option(
            "--within",
            help='How recent the last round must be, e.g. "10m" (default: worker.healthy_within).',
        ),
    ] = None,
) -> None:
    """Exit 0 when a worker's last poll round succeeded recently (Docker's HEALTHCHECK), else 1."""
    import socket
    from datetime import UTC, datetime

    from broadsheet.app import App
    from broadsheet.health import judge
    from ingest.store import workers

    chosen = _within(within) if within else None
    application = run_or_exit(lambda: App.open(config))
    limit = chosen or application.settings.worker.healthy_within
    beats = run_or_exit(lambda: workers.latest(application.engine))
    verdict = judge(beats, datetime.now(UTC), limit, socket.gethostname())
    out.print(verdict.reason, markup=False)
    if not verdict.healthy:
        raise typer.Exit(1)


def _within(text: str) -> float:
    """``--within`` in seconds; a usage error (exit 2) when it is not a duration above zero."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        err.print(f"--within: {exc}", markup=False)
        raise typer.Exit(2) from None
    if seconds <= 0:
        err.print(f"--within: expected a duration above zero, got {text!r}", markup=False)
        raise typer.Exit(2)
    return seconds


if __name__ == "__main__":  # pragma: no cover
    main()
