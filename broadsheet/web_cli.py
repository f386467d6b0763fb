"""`broadsheet web`: serve the subscribers' pages; `broadsheet web --new-secret`: make a signing key."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer

from broadsheet import logs
from broadsheet.output import ConfigOption, err, out, run_or_exit


def web(
    config: ConfigOption = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default: [web] host).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port to listen on (default: [web] port)."),
    ] = None,
    new_secret: Annotated[
        bool,
        typer.Option("--new-secret", help="Print a new random signing key for [web] and exit."),
    ] = False,
) -> None:
    """Serve the subscribers' pages: one-click unsubscribe, preferences, past editions."""
    if new_secret:
        out.print(secrets.token_urlsafe(32), markup=False)
        return
    from broadsheet.app import App
    from broadsheet.config import MIN_SECRET, NEW_SECRET

    application = run_or_exit(lambda: App.open(config))
    settings = application.settings.web
    if len(settings.secret) < MIN_SECRET:
        state = "is not set" if not settings.secret else f"holds fewer than {MIN_SECRET} characters"
        err.print(
            f"The pages check every link with the key in ${settings.secret_env}, which {state}. "
            f"Set it to the key the digests' links are signed with (make one with "
            f'`export {settings.secret_env}="$({NEW_SECRET})"`), then start again.',
            markup=False,
        )
        raise typer.Exit(2)
    logs.configure(application.settings.worker.log_format)
    if not settings.enabled:
        err.print(
            "warning: [web] base_url is empty, so digests carry no links to these pages (only "
            "the mailto: unsubscribe address); set it to the address where people reach this "
            "server, e.g. https://news.example.org",
            markup=False,
        )
    from broadsheet.web.server import serve  # only this command needs Starlette and uvicorn

    chosen_host, chosen_port = host or settings.host, port or settings.port
    err.print(f"serving the subscribers' pages on http://{chosen_host}:{chosen_port}", markup=False)
    serve(application, chosen_host, chosen_port)
