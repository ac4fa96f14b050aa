"""Conditional GET for the page's polling: a weak ETag over the JSON body; a request whose
``If-None-Match`` names it gets ``304 Not Modified`` without a body (RFC 9110 §13.1.2)."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response
from pydantic import BaseModel


def etag_of(body: bytes) -> str:
    return 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def conditional_json(request: Request, model: BaseModel) -> Response:
    """``model`` as JSON with its ETag, or 304 when the client already has this version."""
    body = model.model_dump_json().encode()
    tag = etag_of(body)
    presented = {part.strip() for part in request.headers.get("if-none-match", "").split(",")}
    if tag in presented or tag.removeprefix("W/") in presented:
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, media_type="application/json", headers={"ETag": tag})
