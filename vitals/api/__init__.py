"""The clinician HTTP API and web page (FastAPI): alert history, readings, acknowledge."""

from vitals.api.app import create_app

__all__ = ["create_app"]
