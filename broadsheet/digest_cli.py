"""`broadsheet digest`, `preview` and `run`: deliver digests, look at one, or do a whole cycle."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from broadsheet.output import ConfigOption, JsonOption, err, out, run_or_exit, to_json

if TYPE_CHECKING:  # each command imports the digests in its body (fast --help, check and poll)
    from broadsheet import api
    from broadsheet.app import App
    from digests.report import DigestReport
    from digests.settings import Subscriber

FAILED = 3  # some digests failed (they are retried): cron mails the output, a script can tell
SubscriberOption = Annotated[
    str | None, typer.Option("--subscriber", "-s", help="Only this subscriber (email address).")
]


def pick(application: App, email: str | None) -> tuple[Subscriber, ...]:
    """The configured subscribers, or the one named; exits 2 naming the known ones otherwise."""
    subscribers = application.settings.subscribers
    if email is None:
        return subscribers
    chosen = tuple(s for s in subscribers if s.key == email.strip().lower())
    if not chosen:
        known = ", ".join(s.email for s in subscribers) or "none"
        err.print(
            f"No subscriber {email} in {application.settings.path} (configured: {known}).",
            markup=False,
        )
        raise typer.Exit(2)
    return chosen


def digest(
    config: ConfigOption = None,
    subscriber: SubscriberOption = None,
    now: Annotated[
        bool, typer.Option("--now", help="Deliver now, regardless of schedules.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Render and report; send and record nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Deliver every digest that is due now (email and/or Markdown), exactly once; exit 3 when some failed."""
    from broadsheet.app import App

    application = run_or_exit(lambda: App.open(config))
    report = deliver(
        application, pick(application, subscriber), force=now, dry_run=dry_run, quiet=as_json
    )
    print_report(report, as_json)
    exit_for(report)


def exit_for(report: DigestReport) -> None:
    """Exit 3 when a digest failed or was given up in this run (it is retried, or needs a look)."""
    if report.failed or report.abandoned:
        raise typer.Exit(FAILED)


def deliver(
    application: App,
    subscribers: tuple[Subscriber, ...],
    *,
    force: bool,
    dry_run: bool,
    quiet: bool,
) -> DigestReport:
    """Deliver what is due to ``subscribers`` (with their own choices and holds applied).

    A line per digest is logged unless quiet.
    """
    from broadsheet import api

    return run_or_exit(
        lambda: api.deliver(
            application,
            subscribers=[person.email for person in subscribers],
            force=force,
            dry_run=dry_run,
            log=None if quiet else (lambda _level, line: err.print(line, markup=False)),
        )
    )


def print_report(report: DigestReport, as_json: bool) -> None:
    """The report as JSON (the documented keys) or as a summary line."""
    if as_json:
        out.print(to_json(report_dict(report)), markup=False)
        return
    out.print(report.summary(), markup=False)
    for path in report.files:
        out.print(f"  wrote {path}", markup=False)
    for error in report.errors:
        given_up = "given up: " if error.get("state") == "abandoned" else ""
        err.print(f"  {error['subscriber']}: {given_up}{error['error']}", markup=False)
    for retry in report.retries:
        err.print(
            f"  {retry['subscriber']}: waiting to retry after {retry['retry_at']} "
            f"(attempt {retry['attempts']} failed: {retry['error']})",
            markup=False,
        )


def report_dict(report: DigestReport) -> dict[str, int]:
    """The documented keys of `broadsheet digest --json`."""
    return {
        key: getattr(report, key)
        for key in (
            "due",
            "sent",
            "written",
            "failed",
            "skipped_empty",
            "abandoned",
            "retrying",
            "held",
            "archived",
        )
    }


def preview(
    subscriber: Annotated[
        str, typer.Option("--subscriber", "-s", help="The subscriber's email address.")
    ],
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="html, text or markdown.")] = "html",
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to FILE instead of stdout.")
    ] = None,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="List each story's score and reasons instead."),
    ] = False,
) -> None:
    """Render the subscriber's next digest (up to now) without sending or recording anything."""
    from broadsheet import api
    from broadsheet.app import App
    from digests.deliver import attempt
    from digests.render import render_html, render_markdown, render_text

    renderers = {"html": render_html, "text": render_text, "markdown": render_markdown}
    if fmt not in renderers:
        err.print(f"--format must be html, text or markdown, not {fmt!r}.")
        raise typer.Exit(2)
    application = run_or_exit(lambda: App.open(config))
    (chosen,) = pick(application, subscriber)
    if explain:
        explained = run_or_exit(lambda: attempt(lambda: api.explain(application, chosen.email)))
        built, document = explained.digest, explanation(explained)
    else:
        built = run_or_exit(lambda: api.preview(application, chosen.email))
        document = run_or_exit(
            lambda: attempt(lambda: renderers[fmt](built, application.settings.digests))
        )
    if output:
        output.write_text(document, encoding="utf-8")
        err.print(f"wrote {output} ({built.story_count} stories)", markup=False)
    else:
        typer.echo(document, nl=not document.endswith("\n"))


def explanation(explained: api.Explanation) -> str:
    """``preview --explain``: each story best first, its score, how it is shown and why."""
    from digests.render import plural

    digest = explained.digest
    subscriber = digest.subscriber
    budget = (
        f", a budget of {plural(round(subscriber.budget / 60), 'minute')}"
        if subscriber.budget
        else ", no reading budget"
    )
    lines = [
        f"{subscriber.email}: {plural(len(explained.stories), 'story', 'stories')} best first; "
        f"{len(digest.items)} in full ({plural(digest.reading_minutes, 'minute')} of reading"
        f"{budget}), {plural(len(digest.brief), 'headline')}",
        "score = weight × (1 + outlets + recency + boost + reading)",
    ]
    for n, (ranked, form) in enumerate(explained.stories, 1):
        entry = ranked.item.entry
        lines += ["", f"{n:>3}. {ranked.score:6.2f}  {form}: {entry.title}"]
        lines.append(f"{'':13}{entry.feed_title}")
        lines += [
            f"{'':13}{reason.points:+6.2f}  {reason.signal:<8} {reason.value}"
            for reason in ranked.reasons
        ]
    return "\n".join(lines) + "\n"
