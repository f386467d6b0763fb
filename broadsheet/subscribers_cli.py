"""`broadsheet subscribers`: who gets digests and when; unsubscribe or resubscribe someone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from broadsheet.feeds_cli import ago
from broadsheet.output import ConfigOption, JsonOption, err, out, run_or_exit, to_json

if TYPE_CHECKING:  # each command imports the application API in its body (fast --help)
    from broadsheet import api

T = TypeVar("T")
EmailArgument = Annotated[str, typer.Argument(help="The subscriber's email address.")]
JSON_KEYS = (
    "email",
    "address",
    "name",
    "state",
    "hold",
    "schedule",
    "timezone",
    "deliver",
    "tags",
    "include",
    "exclude",
    "paused_until",
    "unsubscribed_at",
    "unsubscribed_via",
    "last_digest",
    "next_due",
)

app = typer.Typer(help="List subscribers and their state; unsubscribe or resubscribe someone.")


@app.callback(invoke_without_command=True)
def subscribers(
    ctx: typer.Context, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Every subscriber: state (active, paused, unsubscribed, not in config), schedule, next digest."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from broadsheet import api
    from broadsheet.app import App

    application = run_or_exit(lambda: App.open(config))
    now = datetime.now(UTC)
    views = run_or_exit(lambda: api.subscribers(application, now))
    if as_json:
        out.print(to_json([as_dict(view) for view in views]), markup=False)
        return
    table = Table(show_lines=False, expand=True)
    for column in ("email", "state", "schedule (time zone)", "deliver", "last digest", "next due"):
        table.add_column(column, overflow="fold")
    for view in views:
        table.add_row(
            view.address,
            _state(view),
            f"{view.schedule} ({view.timezone})" if view.schedule else "",
            " + ".join(view.deliver) or ("-" if view.subscriber is None else "web archive only"),
            ago(view.last_digest, now),
            ago(view.next_due, now) if view.next_due else "-",
        )
    out.print(table)
    states = ("active", "paused", "unsubscribed", api.NOT_IN_CONFIG)
    counts = {state: sum(v.state == state for v in views) for state in states}
    shown = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    out.print(
        f"{len(views)} {'subscriber' if len(views) == 1 else 'subscribers'}: {shown or 'none'}."
    )


def as_dict(view: api.SubscriberView) -> dict[str, Any]:
    """The documented keys of `broadsheet subscribers --json`."""
    return {key: getattr(view, key) for key in JSON_KEYS}


def _state(view: api.SubscriberView) -> str:
    if view.state == "active":
        return "active"
    return f"{view.state}: {view.hold}" if view.hold else view.state


@app.command("unsubscribe")
def unsubscribe(email: EmailArgument, config: ConfigOption = None) -> None:
    """Stop every digest to EMAIL (the person asked, e.g. by replying to the unsubscribe address)."""
    from broadsheet import api
    from broadsheet.app import App

    application = run_or_exit(lambda: App.open(config))
    before = _known(lambda: api.subscriber(application, email))
    after = run_or_exit(lambda: api.unsubscribe(application, email, via="command"))
    if before.state == "unsubscribed":
        out.print(f"{after.address}: already {after.hold}; nothing changed.", markup=False)
        return
    out.print(
        f"{after.address}: {after.hold}. No digest goes out to them until they ask to come back "
        f"(`broadsheet subscribers resubscribe {after.address}`).",
        markup=False,
    )


@app.command("resubscribe")
def resubscribe(email: EmailArgument, config: ConfigOption = None) -> None:
    """Send digests to EMAIL again: only at the person's own request, never on your own."""
    from broadsheet import api
    from broadsheet.app import App

    application = run_or_exit(lambda: App.open(config))
    before = _known(lambda: api.subscriber(application, email))
    after = run_or_exit(lambda: api.resubscribe(application, email))
    if before.state != "unsubscribed":
        out.print(
            f"{after.address} is not unsubscribed ({after.state}); nothing changed.", markup=False
        )
        return
    due = f"; next digest {after.next_due:%Y-%m-%d %H:%M} UTC" if after.next_due else ""
    out.print(f"{after.address}: subscribed again{due}.", markup=False)


def _known(action: Callable[[], T]) -> T:
    """``action``'s result; an address nobody configured exits 2, naming those configured."""
    from broadsheet import api

    def checked() -> T:
        try:
            return action()
        except api.UnknownSubscriber as exc:
            err.print(f"{exc}.", markup=False)
            raise typer.Exit(2) from None

    return run_or_exit(checked)
