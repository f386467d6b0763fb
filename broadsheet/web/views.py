"""The pages' templates (jinja2, ``templates/``) and their stylesheet (``static/web.css``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digests.render import day, plural, schedule_text, when

TEMPLATES = Path(__file__).with_name("templates")
STYLESHEET = Path(__file__).with_name("static") / "web.css"

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
_ENVIRONMENT.filters.update(day=day, when=when, plural=plural, schedule=schedule_text)


def render(
    request: Request,
    name: str,
    title: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The template ``name`` as a response; ``prefix`` is the path the pages are served under."""
    prefix = request.scope.get("root_path", "").rstrip("/")
    html = _ENVIRONMENT.get_template(name).render(title=title, prefix=prefix, **context)
    return HTMLResponse(html, status_code=status, headers=headers)


def stylesheet() -> bytes:
    """The pages' stylesheet."""
    return STYLESHEET.read_bytes()
