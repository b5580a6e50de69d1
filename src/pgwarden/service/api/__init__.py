"""The HTTP API (FastAPI): one router module per feature; `service/web.py` assembles them."""
