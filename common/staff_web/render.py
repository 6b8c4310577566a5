"""How a console page is answered: its template (the console's own templates first, then the
shared ones: sign-in, password, error; autoescaped) or, on the `.json` path, its data as JSON —
the same plain dict, so the page only displays what the JSON twin says."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from common.staff_web.web import CSRF_FIELD, actor_of, session_of, wants_json

HERE = Path(__file__).parent


def when(ms: int | None) -> str:
    """A time for staff: UTC, to the second ("—" for never)."""
    if ms is None:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def templates(own: Path, **globals_: Any) -> Jinja2Templates:
    """A console's templates: its folder `own` (its `base.html` and pages), then the shared ones;
    every value autoescaped."""
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(own), FileSystemLoader(HERE / "templates")]),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["when"] = when
    env.globals.update(globals_)
    return Jinja2Templates(env=env)


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
        "data": data, "actor": actor, "csrf": csrf, "csrf_field": CSRF_FIELD,
        "rights": actor.rights if actor else frozenset(), **extra,
    }
    chosen: Jinja2Templates = request.app.state.templates
    return chosen.TemplateResponse(request, template, context, status_code=status)


def done(request: Request, to: str, data: dict[str, object]) -> Response:
    """After a change: JSON for the twin, else a redirect (303: the browser GETs `to`)."""
    if wants_json(request):
        return page(request, "", data)
    return RedirectResponse(to, status_code=303)
