"""The daemon's web side: the console's pages and the JSON API under ``/api/v1`` (FastAPI)."""
