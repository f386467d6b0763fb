"""`broadsheet feeds`: the health table, autodiscovery, OPML import and export, reset."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from broadsheet import config_edit
from broadsheet.app import App
from broadsheet.output import ConfigOption, err, out, run_or_exit, to_json
from ingest import discover, opml
from ingest.redact import mask_data
from ingest.store import feeds as stored_feeds

app = typer.Typer(help="Show feed health; discover, import, export and reset feeds.")


@app.callback(invoke_without_command=True)
def feeds(
    ctx: typer.Context,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """A health table of every configured feed: entries, last success, last error, next poll."""
    if ctx.invoked_subcommand is not None:
        return
    application = run_or_exit(lambda: App.open(config))
    rows = mask_data(run_or_exit(lambda: stored_feeds.health(application.engine)))
    if as_json:
        out.print(to_json(rows), markup=False)
        return
    table = Table(show_lines=False, expand=True)
    for column in ("title", "url", "tags", "entries", "last success", "last error", "next poll"):
        table.add_column(
            column, overflow="fold", justify="right" if column == "entries" else "left"
        )
    now = datetime.now(UTC)
    for row in rows:
        table.add_row(
            row["title"] or "",
            row["url"],
            ", ".join(row["tags"]),
            str(row["entries"]),
            _ago(row["last_success"], now),
            _problem(row),
            _next_poll(row, now),
        )
    out.print(table)
    failing = sum(1 for row in rows if row["last_error"])
    out.print(f"{len(rows)} {'feed' if len(rows) == 1 else 'feeds'}, {failing} with errors.")


def _problem(row: dict[str, Any]) -> str:
    """The feed's error in red, or a parse warning or skipped duplicates in yellow."""
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
    return f"[yellow]{_escape('; '.join(notes))}[/]" if notes else ""


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def _next_poll(row: dict[str, Any], now: datetime) -> str:
    """When the feed is polled next: "disabled", "due now" or "in 25m"."""
    if not row["enabled"]:  # off in the config, or disabled by a 410
        return "disabled"
    when = row["next_poll"]
    return "due now" if when is None or when <= now else _ago(when, now)


def _ago(when: datetime | None, now: datetime) -> str:
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
    """Find the feeds a web page advertises (and well-known feed paths)."""
    settings = run_or_exit(lambda: App.load(config).settings)
    found = run_or_exit(lambda: discover.discover(url, settings.poll))
    if not found:
        out.print(f"No feeds found at {url}.", markup=False)
        raise typer.Exit(1)
    for feed in found:
        out.print(f"{feed.url}\t{feed.type or ''}\t{feed.title or ''}".rstrip(), markup=False)


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="An OPML file.", exists=True, dir_okay=False)],
    config: ConfigOption = None,
) -> None:
    """Add the OPML file's feeds to the config, keeping its comments; skips feeds already there."""
    settings = run_or_exit(lambda: App.load(config).settings)
    specs = run_or_exit(lambda: opml.read(file.read_bytes(), str(file)))
    refused = config_edit.refused(specs)
    for url, reason in refused.items():
        err.print(f"skipped  {url}: {reason}", markup=False)
    added = run_or_exit(lambda: config_edit.add_feeds(settings.path, specs))
    for spec in added:
        out.print(f"added    {spec.url}", markup=False)
    present = len(specs) - len(added) - len(refused)
    out.print(
        f"{len(added)} added, {present} already present, {len(refused)} skipped, "
        f"to {settings.path}."
    )


@app.command("export")
def export_command(
    config: ConfigOption = None,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to a file instead of stdout.")
    ] = None,
) -> None:
    """Print the configured feeds as OPML 2.0."""
    settings = run_or_exit(lambda: App.load(config).settings)
    document = opml.write(settings.feeds, settings.digests.title, datetime.now(UTC))
    if output:
        output.write_text(document, encoding="utf-8")
    else:
        typer.echo(document, nl=False)


@app.command("reset")
def reset_command(
    url: Annotated[str, typer.Argument(help="The feed's URL (as in the config).")],
    config: ConfigOption = None,
) -> None:
    """Clear a feed's errors and backoff (and a 410 disabling) so the next poll tries it now."""
    application = run_or_exit(lambda: App.open(config))
    feed = stored_feeds.get(application.engine, url)
    if feed is None:
        err.print(f"No feed {url} in the store; is it in {application.settings.path}?")
        raise typer.Exit(1)
    stored_feeds.reset(application.engine, feed.id, datetime.now(UTC))
    out.print(f"{url}: reset; it will be polled in the next round.", markup=False)
