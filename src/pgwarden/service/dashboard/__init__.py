"""The dashboard: server-rendered pages (Jinja2) with inline SVG charts, no CDN."""

from pgwarden.service.dashboard.pages import router

__all__ = ["router"]
