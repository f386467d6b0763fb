"""`broadsheet alerts`: mail the admin about failing and quiet feeds, as the worker does each round."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from broadsheet.digest_cli import FAILED
from broadsheet.output import ConfigOption, JsonOption, err, out, run_or_exit, to_json

if TYPE_CHECKING:  # the command imports the alerts run in its body (fast --help)
    from digests.alert_deliver import AlertReport

NO_RECIPIENTS = (
    'no alerts are sent: [alerts] email is empty in {path}; add email = ["ops@example.org"] '
    "to an [alerts] table to be told when a feed fails or goes quiet (`broadsheet feeds "
    "--failing` lists them meanwhile)"
)


def alerts(
    config: ConfigOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say which alerts are due; send and record nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Mail [alerts] email about feeds failing longer than `after` or quiet; exit 3 when a send failed."""
    from broadsheet import api
    from broadsheet.app import App

    application = run_or_exit(lambda: App.open(config))
    if not application.settings.alerts.enabled:
        err.print(f"error: {NO_RECIPIENTS.format(path=application.settings.path)}", markup=False)
        raise typer.Exit(1)
    report = run_or_exit(lambda: api.alerts(application, dry_run=dry_run))
    if as_json:
        out.print(to_json(report.as_dict()), markup=False)
    else:
        print_report(report)
    if report.failed:
        raise typer.Exit(FAILED)


def print_report(report: AlertReport) -> None:
    """The summary line, each alert, then each failed message with its reason."""
    out.print(report.summary(), markup=False)
    for alert in report.alerts:
        detail = f": {alert['detail']}" if alert["detail"] else ""
        out.print(
            f"  {alert['recipient']}: {alert['kind']} {alert['title']} ({alert['feed']}) "
            f"since {alert['since']}{detail}",
            markup=False,
        )
    for error in report.errors:
        then = (
            "given up: these alerts are not sent again"
            if error["state"] == "abandoned"
            else "the alerts are sent again by the next run (`broadsheet alerts`, or the "
            "worker after its next poll round)"
        )
        err.print(f"  {error['recipient']}: {error['error']}; {then}", markup=False)
