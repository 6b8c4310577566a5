"""How a page is answered: its template (one base, autoescaped) or, on the `.json` path, its data
as JSON — the same plain dict, so the page only displays what the JSON twin says."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway.console.rights import Right
from gateway.console.tiles import tile_html
from gateway.console.web import CSRF_FIELD, actor_of, session_of, wants_json

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(env=Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
))


def when(ms: int | None) -> str:
    """A time for staff: UTC, to the second ("—" for never)."""
    if ms is None:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


TEMPLATES.env.filters["when"] = when
TEMPLATES.env.filters["tile"] = lambda tablet: tile_html(tablet, when)


def page(request: Request, template: str, data: dict[str, Any], *, status: int = 200,
         csrf: str | None = None, **extra: Any) -> Response:
    """The page, or its JSON twin (`csrf`: the token of a session made by this request)."""
    if wants_json(request):
        return JSONResponse(data, status_code=status)
    actor = actor_of(request)
    if csrf is None:
        session = session_of(request)
        csrf = session.csrf if session else ""
    context = {
        "data": data, "actor": actor, "csrf": csrf,
        "csrf_field": CSRF_FIELD, "Right": Right,
        "rights": actor.rights if actor else frozenset(), **extra,
    }
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status)
