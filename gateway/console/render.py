"""The wing console's templates: its own pages and `base.html` (the wing's navigation), over the
shared ones (`common.staff_web.render`), with the rights table and the wing map's tile filter."""

from __future__ import annotations

from pathlib import Path

from common.staff_web.render import templates, when
from gateway.console.rights import Right
from gateway.console.tiles import tile_html

HERE = Path(__file__).parent
TEMPLATES = templates(HERE / "templates", Right=Right)
TEMPLATES.env.filters["tile"] = lambda tablet: tile_html(tablet, when)
