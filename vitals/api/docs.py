"""``/docs`` (Swagger UI), off by default (``VITALS_API_DOCS``).

FastAPI's page loads Swagger UI's script and style from cdn.jsdelivr.net and starts it
with an inline script. When turned on, it is served under a Content-Security-Policy that
allows exactly that origin and that inline script (by its SHA-256), nothing else: no other
script, no framing, no form posts. ReDoc and the OAuth2 redirect page are never served.
The spec itself stays at ``/openapi.json`` either way.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

DOCS_PATH = "/docs"
CDN = "https://cdn.jsdelivr.net"
FAVICON_ORIGIN = "https://fastapi.tiangolo.com"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)


def policy_for(html: str) -> str:
    """The CSP of a docs page: its CDN, and its inline scripts by hash."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src {CDN} {hashes}; style-src {CDN}; "
        f"img-src 'self' data: {FAVICON_ORIGIN}; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def mount_docs(app: FastAPI) -> None:
    """Serve Swagger UI for ``app`` at ``/docs`` with its policy."""
    html = bytes(
        get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - docs"
        ).body
    ).decode()
    policy = policy_for(html)

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})
