"""What every command prints the same way: errors a person can act on, JSON, the consoles."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from ingest.errors import BroadsheetError, ConfigError
from ingest.redact import mask_data, mask_text


class MaskedConsole(Console):
    """A console that masks credentials in every string it is given to print."""

    def print(self, *objects: Any, **options: Any) -> None:
        """Print like rich, with URLs' passwords and secret parameters hidden."""
        super().print(*(mask_text(o) if isinstance(o, str) else o for o in objects), **options)


out = MaskedConsole(highlight=False, soft_wrap=True)
if not out.is_terminal:  # piped or logged: tables get room instead of the 80-column default
    out = MaskedConsole(highlight=False, soft_wrap=True, width=200)
err = MaskedConsole(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")


def inherit_config(ctx: typer.Context, value: Path | None) -> Path | None:
    """``--config`` as given to this command, else as given before it (``broadsheet -c F poll``)."""
    parent = ctx.parent
    while value is None and parent is not None:
        value = parent.params.get("config")
        parent = parent.parent
    return value


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $BROADSHEET_CONFIG, else config/broadsheet.toml).",
        callback=inherit_config,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def run_or_exit(action: Callable[[], T]) -> T:
    """Run ``action``; print a Broadsheet error as a person should see it and exit non-zero."""
    try:
        return action()
    except ConfigError as exc:
        err.print("[bold red]The config has problems:[/]")
        for problem in exc.problems:
            err.print(f"  - {mask_text(problem)}", markup=False)
        err.print("Fix them and run `broadsheet check` again.")
        raise typer.Exit(2) from None
    except BroadsheetError as exc:
        err.print("[bold red]error:[/] ", end="")
        err.print(mask_text(str(exc)), markup=False)
        raise typer.Exit(1) from None


def to_json(value: Any) -> str:
    """JSON with datetimes as ISO 8601 strings, and credentials in every string masked."""
    return json.dumps(mask_data(value), indent=2, default=_plain)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else mask_text(str(value))
