"""Security headers on every response: a Content-Security-Policy, no framing, no MIME
sniffing, no referrer to other sites.

The pages run no inline script or style (all of it is in /ui/static), so their policy
allows scripts, styles and connections from this origin only; `frame-ancestors 'none'`
and X-Frame-Options DENY keep the board's acknowledge button out of another site's
frame. The API's JSON needs no sources at all. Swagger UI (/docs) boots from an
inline script that FastAPI writes; rather than allowing inline script, the policy of
the docs pages names the SHA-256 of each inline script the response actually carries,
so it follows whatever the page is (local assets or not) and nothing else inline runs.

A plain ASGI middleware, so the SSE stream passes through unbuffered; only the docs
pages (small, static HTML) are buffered to hash their scripts.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FRAME = "frame-ancestors 'none'"
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    f"form-action 'self'; {FRAME}"
)
API_CSP = f"default-src 'none'; {FRAME}"
# Swagger UI and ReDoc draw icons from data: URIs in their CSS and set inline styles
# (ReDoc writes a <style> element), so styles may be inline there; scripts may not.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
    f"base-uri 'none'; form-action 'self'; {FRAME}"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
COMMON = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_INLINE_SCRIPT = re.compile(
    rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL
)


def script_hashes(html: bytes) -> list[str]:
    """CSP source expressions ('sha256-...') for each inline script of `html`."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def policy_for(path: str) -> str:
    if path.startswith("/ui"):
        return PAGE_CSP
    return API_CSP


def _set(message: Message, csp: str) -> None:
    headers = MutableHeaders(scope=message)
    headers["Content-Security-Policy"] = csp
    for name, value in COMMON.items():
        headers[name] = value


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in DOCS_PATHS:
            await self._docs(scope, receive, send)
            return
        csp = policy_for(path)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _set(message, csp)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        body: list[bytes] = []

        async def collect(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    assert start is not None
                    html = b"".join(body)
                    hashes = "".join(" " + h for h in script_hashes(html))
                    _set(start, DOCS_CSP.format(hashes=hashes))
                    await send(start)
                    await send({"type": "http.response.body", "body": html})
            else:
                await send(message)

        await self.app(scope, receive, collect)
