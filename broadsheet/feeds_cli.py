"""`broadsheet feeds`: the health table, autodiscovery, OPML import and export, reset."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from broadsheet import USER_AGENT
from broadsheet.output import ConfigOption, err, out, run_or_exit, to_json
from broadsheet.units import format_duration
from ingest.errors import BroadsheetError
from ingest.models import PollSettings
from ingest.redact import mask_data

# Each command imports what it runs on in its body: `broadsheet --help` and the other commands
# do not pay for the store, the fetcher or the digests (see DEVELOPERS.md, "Start-up").
if TYPE_CHECKING:
    from broadsheet.app import App

app = typer.Typer(help="Show feed health; discover, import, export and reset feeds.")


@app.callback(invoke_without_command=True)
def feeds(
    ctx: typer.Context,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    failing: Annotated[
        bool,
        typer.Option(
            "--failing", help="Only the feeds failing longer than [alerts] after, or quiet."
        ),
    ] = False,
) -> None:
    """A health table of every configured feed: entries, last success, last error, next poll."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from broadsheet.app import App
    from ingest.store import feeds as stored_feeds

    application = run_or_exit(lambda: App.open(config))
    if failing:
        troubled(application, as_json=as_json)
        return
    rows = mask_data(run_or_exit(lambda: stored_feeds.health(application.engine)))
    if as_json:
        out.print(to_json(rows), markup=False)
        return
    table = Table(show_lines=False, expand=True)
    columns = ["title", "url", "tags", "entries", "last success", "last error", "next poll"]
    full = any(row["full_text"] for row in rows)  # the column shows when a feed is read in full
    if full:
        columns.insert(4, "full text")
    for column in columns:
        table.add_column(column, overflow="fold", justify="right" if column in RIGHT else "left")
    now = datetime.now(UTC)
    for row in rows:
        cells = [row["title"] or "", row["url"], ", ".join(row["tags"]), _entries(row)]
        cells += [_full_text(row)] if full else []
        cells += [ago(row["last_success"], now), _problem(row), _next_poll(row, now)]
        table.add_row(*cells)
    out.print(table)
    errors = sum(1 for row in rows if row["last_error"])
    out.print(f"{len(rows)} {'feed' if len(rows) == 1 else 'feeds'}, {errors} with errors.")


def troubled(application: App, *, as_json: bool) -> None:
    """The feeds failing longer than [alerts] after, and those quiet longer than [alerts] quiet."""
    from rich.table import Table

    from broadsheet import api

    now = datetime.now(UTC)
    problems = run_or_exit(lambda: api.failing(application, now))
    if as_json:
        out.print(to_json([asdict(problem) for problem in problems]), markup=False)
        return
    settings = application.settings.alerts
    table = Table(show_lines=False, expand=True)
    for column in ("title", "url", "problem", "since", "last success"):
        table.add_column(column, overflow="fold")
    for problem in problems:
        detail = f": {problem.detail}" if problem.detail else ""
        table.add_row(
            problem.title,
            problem.url,
            f"{problem.reason}{detail}",
            f"{problem.since:%Y-%m-%d %H:%M} UTC ({ago(problem.since, now)})",
            ago(problem.last_success, now),
            style="red" if problem.reason == "failing" else "yellow",
        )
    if problems:
        out.print(table)
    count = sum(1 for problem in problems if problem.reason == "failing")
    line = f"{count} failing for longer than {format_duration(settings.after)} ([alerts] after)"
    if settings.quiet is None:
        line += "; quiet feeds are not looked for ([alerts] quiet is not set)"
    else:
        quiet = len(problems) - count
        line += f", {quiet} quiet for longer than {format_duration(settings.quiet)}"
    out.print(f"{line}.", markup=False)


RIGHT = frozenset({"entries", "full text"})


def _full_text(row: dict[str, Any]) -> str:
    """Articles extracted of those tried: "7/9", and those still waiting: "7/9, 2 waiting"."""
    if not row["full_text"] and not row["full_text_tried"]:
        return ""
    waiting = f", {row['full_text_pending']} waiting" if row["full_text_pending"] else ""
    return f"{row['full_text_ok']}/{row['full_text_tried']}{waiting}"


def _fallbacks(row: dict[str, Any]) -> str:
    """Why articles fell back to the feed's summary: "full text fell back: 404 ×2, too large ×1"."""
    reasons = sorted(row["full_text_fallbacks"].items(), key=lambda item: (-item[1], item[0]))
    if not reasons:
        return ""
    return "full text fell back: " + ", ".join(f"{reason} ×{n}" for reason, n in reasons)


def _entries(row: dict[str, Any]) -> str:
    """The entry count, and how many are backlog kept out of digests: "12 (9 backlog)"."""
    backlog = f" ({row['backlog']} backlog)" if row["backlog"] else ""
    return f"{row['entries']}{backlog}"


def _problem(row: dict[str, Any]) -> str:
    """The feed's error in red, or a parse warning or colliding entries in yellow."""
    if row["disabled_reason"]:
        return f"[red]DISABLED: {_escape(row['disabled_reason'])}[/]"
    if row["last_error"]:
        repeated = row["consecutive_failures"]
        suffix = f" ({repeated} in a row)" if repeated > 1 else ""
        return f"[red]{_escape(row['last_error'])}{suffix}[/]"
    notes = []
    if row["warning"]:
        notes.append(f"warning: {row['warning']}")
    if row["duplicates"]:
        notes.append(f"{row['duplicates']} entries with a repeated id were skipped")
    if row["replaced"]:
        notes.append(
            f"{row['replaced']} stored entries were overwritten by an entry with the same id "
            "but another title and link"
        )
    if fallbacks := _fallbacks(row):
        notes.append(fallbacks)
    return f"[yellow]{_escape('; '.join(notes))}[/]" if notes else ""


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def _next_poll(row: dict[str, Any], now: datetime) -> str:
    """When the feed is polled next: "disabled", "due now" or "in 25m"."""
    if not row["enabled"]:  # off in the config, or disabled by a 410
        return "disabled"
    when = row["next_poll"]
    return "due now" if when is None or when <= now else ago(when, now)


def ago(when: datetime | None, now: datetime) -> str:
    """A time relative to now: "never", "3h ago" or "in 25m"."""
    if when is None:
        return "never"
    seconds = (when - now).total_seconds()
    span = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if span >= size:
            text = f"{int(span // size)}{unit}"
            break
    else:
        text = f"{int(span)}s"
    return f"in {text}" if seconds > 0 else f"{text} ago"


@app.command("discover")
def discover_command(
    url: Annotated[str, typer.Argument(help="A web page (or feed) address.")],
    config: ConfigOption = None,
) -> None:
    """Find the feeds a web page advertises (and well-known feed paths), each checked by a fetch."""
    from ingest import discover

    poll = run_or_exit(lambda: _poll_settings(config))
    found = run_or_exit(lambda: discover.discover_checked(url, poll))
    if not found:
        out.print(f"No feeds found at {url}.", markup=False)
        raise typer.Exit(1)
    for feed in found:
        line = f"{feed.url}\t{feed.type or ''}\t{feed.title or ''}"
        out.print(f"{line}\tFAILED: {feed.error}" if feed.error else line.rstrip(), markup=False)
    if len(found) >= discover.MAX_FOUND:
        err.print(f"Only the first {discover.MAX_FOUND} feeds are listed; the page offers more.")
    if all(feed.error for feed in found):
        err.print(f"None of the feeds found at {url} could be read.", markup=False)
        raise typer.Exit(1)


def _poll_settings(config: Path | None) -> PollSettings:
    """The config's [poll] settings; the defaults when no config file was named and none exists."""
    from broadsheet.app import App
    from broadsheet.config import locate

    if config is None and not locate(None).exists():
        return replace(PollSettings(), user_agent=USER_AGENT)
    return App.load(config).settings.poll


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="An OPML file.", exists=True, dir_okay=False)],
    config: ConfigOption = None,
) -> None:
    """Add the OPML file's feeds to the config, keeping its layout; reports every outline skipped."""
    from broadsheet import config_edit
    from broadsheet.app import App
    from ingest import opml

    settings = run_or_exit(lambda: App.load(config).settings)
    reading = run_or_exit(lambda: opml.read_outlines(_head(file, opml.MAX_BYTES + 1), str(file)))
    done = run_or_exit(lambda: config_edit.add_feeds(settings.path, reading.feeds))
    for spec in done.added:
        out.print(f"added    {spec.url}", markup=False)
    for spec, listed in done.present:
        same = "" if listed == spec.url else f" as {listed}"
        out.print(f"skipped  {spec.url}: already in the config{same}", markup=False)
    for skipped in reading.skipped:
        out.print(f"skipped  {skipped.outline}: {skipped.reason}", markup=False)
    for spec, reason in done.refused:
        out.print(f"skipped  {spec.url}: {reason}", markup=False)
    count = len(reading.skipped) + len(done.refused)
    out.print(
        f"{len(done.added)} added, {len(done.present)} already present, "
        f"{count} skipped, to {settings.path}.",
        markup=False,
    )


def _head(file: Path, size: int) -> bytes:
    """The first ``size`` bytes of ``file``: enough to tell that it is over a limit."""
    with file.open("rb") as stream:
        return stream.read(size)


@app.command("export")
def export_command(
    config: ConfigOption = None,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to a file instead of stdout.")
    ] = None,
) -> None:
    """Print the configured feeds as OPML 2.0, titled as the store knows them when the config does not."""
    from broadsheet.app import App
    from ingest import opml

    settings = run_or_exit(lambda: App.load(config).settings)
    titles = _stored_titles(config)
    feeds = [replace(feed, title=feed.title or titles.get(feed.url)) for feed in settings.feeds]
    document = opml.write(feeds, settings.digests.title, datetime.now(UTC))
    if output:
        output.write_text(document, encoding="utf-8")
    else:
        typer.echo(document, nl=False)


def _stored_titles(config: Path | None) -> dict[str, str]:
    """The titles feeds gave themselves, by config URL; none (with a warning) when the store fails."""
    from broadsheet.app import App
    from ingest.store import feeds as stored_feeds

    try:
        application = App.open(config)
        rows = stored_feeds.health(application.engine)
    except BroadsheetError as exc:
        err.print(f"warning: titles from the config only; the store failed: {exc}", markup=False)
        return {}
    application.close()
    return {row["config_url"]: row["title"] for row in rows if row["title"]}


@app.command("reset")
def reset_command(
    url: Annotated[str, typer.Argument(help="The feed's URL (as in the config).")],
    config: ConfigOption = None,
) -> None:
    """Clear a feed's errors and backoff (and a 410 disabling) so the next poll tries it now."""
    from broadsheet.app import App
    from ingest.store import feeds as stored_feeds

    application = run_or_exit(lambda: App.open(config))
    feed = stored_feeds.get(application.engine, url)
    if feed is None:
        err.print(f"No feed {url} in the store; is it in {application.settings.path}?")
        raise typer.Exit(1)
    stored_feeds.reset(application.engine, feed.id, datetime.now(UTC))
    out.print(f"{url}: reset; it will be polled in the next round.", markup=False)
