"""The dashboard: server-rendered pages (Jinja2) with inline SVG charts, no CDN."""

from pgwarden.service.dashboard.health_page import router as _database
from pgwarden.service.dashboard.pages import router

router.include_router(_database)  # the database page (pgwarden.health)

__all__ = ["router"]
