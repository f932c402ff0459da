"""The OpenAPI document made complete: every /api/v1 operation also lists the error
answers the contract gives it (401 always; 403 where only some roles may call it; 404
where it takes an id, a grid, a device or a maintainer), each as `{"detail": ...}`.

FastAPI documents only what a route declares, so without this a client (or a schema
fuzzer) would see 401/403/404 as undocumented answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from api.auth import ROLE_CHECK_ATTR

PREFIX = "/api/v1/"
SCOPED_QUERY = frozenset({"grid", "device", "maintainer"})
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {}},
    "required": ["detail"],
}
# What one Server-Sent Event carries (FastAPI would document the stream as a string).
SSE_EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "description": "alert"},
        "id": {"type": "string", "description": (
            "Where to resume; send as Last-Event-ID. The log sequence N, or `N:A,B` when "
            "critical entries A and B were sent ahead of the log order.")},
        "data": {"type": "string", "description": "The alert, as JSON."},
    },
}
_ERRORS = {
    "401": "No token, or a bad, expired or revoked one.",
    "403": "The token's role may not use this endpoint.",
    "404": "Not found, or outside the caller's scope (the two look the same).",
}


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def _codes(route: APIRoute, op: dict[str, Any]) -> list[str]:
    codes = ["401"]
    if any(hasattr(call, ROLE_CHECK_ATTR) for call in _calls(route.dependant)):
        codes.append("403")
    params = op.get("parameters", [])
    takes_id = any(p.get("in") == "path" for p in params)
    if takes_id or SCOPED_QUERY & {p.get("name") for p in params if p.get("in") == "query"}:
        codes.append("404")
    return codes


def install(app: FastAPI) -> None:
    """Replace `app.openapi` by one that adds the error answers (built once, cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description,
            routes=app.routes,
        )
        # Included routers are kept lazily: their routes and full paths come from here.
        for found in iter_route_contexts(app.routes):
            route, path = found.original_route, found.path_format
            if not isinstance(route, APIRoute) or not (path or "").startswith(PREFIX):
                continue
            for method in found.methods or ():
                op = doc["paths"].get(path, {}).get(method.lower())
                if op is None:
                    continue
                stream = op["responses"].get("200", {}).get("content", {})
                if "text/event-stream" in stream:
                    stream["text/event-stream"]["schema"] = SSE_EVENT_SCHEMA
                for code in _codes(route, op):
                    answer = op["responses"].setdefault(code, {"description": _ERRORS[code]})
                    answer.setdefault("content", {"application/json": {"schema": ERROR_SCHEMA}})
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
