"""The FastAPI application: routers, pages, liveness, metrics and error shapes."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any, cast

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import (
    openapi_doc,
    pages,
    routes_alerts,
    routes_data,
    routes_health,
    routes_incidents,
    routes_registry,
    routes_silences,
    routes_snapshots,
)
from api.context import ApiContext
from api.security_headers import SecurityHeaders
from api.stream_quota import StreamQuota

log = logging.getLogger(__name__)

try:
    VERSION = version("gridwatch")
except PackageNotFoundError:  # run from a source tree that was never installed
    VERSION = "0.0.0+source"

_JSON_SCALARS = (str, int, float, bool, type(None))


def _safe_error(error: dict[str, Any]) -> dict[str, Any]:
    # FastAPI's own handler can fail on what a client sent (undecodable bytes, objects
    # in `ctx`), turning a 422 into a 500; keep only plain, JSON-safe fields.
    out: dict[str, Any] = {k: error[k] for k in ("type", "loc", "msg") if k in error}
    if "input" in error:
        value = error["input"]
        out["input"] = value if isinstance(value, _JSON_SCALARS) else repr(value)[:200]
    return out


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse(
        {"detail": [_safe_error(dict(e)) for e in errors]},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    # FastAPI answers a body it cannot even decode with 400; the contract makes every
    # invalid input a 422, and nothing of ours raises 400.
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 400:
        exc = StarletteHTTPException(422, exc.detail, exc.headers)
    # Every 422 is documented as a list of errors (FastAPI's own shape); a plain-text
    # reason raised anywhere is wrapped, so clients parse one kind of 422.
    if (
        isinstance(exc, StarletteHTTPException)
        and exc.status_code == 422
        and isinstance(exc.detail, str)
    ):
        detail = [{"type": "value_error", "loc": [], "msg": exc.detail}]
        exc = StarletteHTTPException(422, detail, exc.headers)  # type: ignore[arg-type]
    return await http_exception_handler(request, cast(StarletteHTTPException, exc))


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"detail": "internal error"}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR
    )


def create_app(ctx: ApiContext) -> FastAPI:
    # /docs with its Swagger UI assets served from the package, not a CDN: the console PCs
    # of a street office may have no internet. No /redoc: ReDoc's credit badge still
    # loads its logo from the internet, and /docs is the one the contract names.
    app = FastAPIOffline(
        redoc_url=None,
        title="gridwatch",
        version=VERSION,
        description=(
            "Alerts, devices and grids of the street's safety sensors and cameras. "
            "Every /api/v1 call needs `Authorization: Bearer TOKEN`."
        ),
    )
    app.state.ctx = ctx
    app.add_middleware(SecurityHeaders)
    app.state.streams = StreamQuota(ctx.stream_limits)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    app.include_router(routes_alerts.router)
    app.include_router(routes_registry.router)
    app.include_router(routes_data.router)
    app.include_router(routes_health.router)
    app.include_router(routes_snapshots.router)
    app.include_router(routes_incidents.router)
    app.include_router(routes_silences.router)
    app.include_router(pages.router)
    app.mount("/ui/static", StaticFiles(directory=pages.STATIC_DIR), name="ui-static")
    openapi_doc.install(app)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        # Browsers ask for it on every page; a 404 would be a console error on each.
        return FileResponse(pages.STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    @app.get(
        "/healthz",
        tags=["service"],
        responses={503: {"description": "Not ready: `reason` says why."}},
    )
    def healthz() -> JSONResponse:
        """Liveness and readiness, for a load balancer in front of replicas; needs no
        token. 503 with `{"status": "not_ready", "reason": ...}` while ingest cannot
        write (disk full, store locked or failing: messages then wait unacknowledged at
        the broker), is not connected to the broker, or the op store does not answer."""
        problem = ctx.readiness()
        if problem is None and not ctx.ops.ping():
            problem = {"reason": "the operational store does not answer"}
        if problem is None:
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "not_ready", **problem}, status_code=503)

    @app.get("/metrics", tags=["service"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics in text format; needs no token."""
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return app
