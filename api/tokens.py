"""API tokens: creation and verification (the `gridwatch token` commands: `app/`).

A token reads `gw_<id>_<secret>`; only the SHA-256 of the whole string is stored, so a
leaked database or config file does not leak working tokens. Three sources are
accepted: tokens created with the CLI (ops store), tokens listed in the configuration
(by hash), and the bootstrap token from the environment (role ops, whole street).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC

from config.models import TokenSpec
from config.registry import Registry
from store.interfaces import OpStore, StoredToken

ROLES = ("ops", "guard", "maintenance", "admin")
BOOTSTRAP_ID = "bootstrap"
_TOKEN = re.compile(r"^gw_([0-9a-f]{8})_[A-Za-z0-9_-]{32}$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([dhms])$")
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. `grid` None is the whole street; `devices` None is every device
    (for role maintenance it is the set its unit looks after, fixed at sign-in)."""

    token_id: str
    name: str
    role: str
    grid: str | None
    maintainer: str | None
    devices: frozenset[str] | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_duration(text: str) -> float:
    """'30d', '12h', '90m' or '3600s' -> seconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"bad duration {text!r}: use a number and d, h, m or s, e.g. 30d")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"bad duration {text!r}: must be more than zero")
    return seconds


def _check_scope(registry: Registry, role: str, grid: str | None, maintainer: str | None) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if grid is not None and grid not in registry.grids:
        raise ValueError(f"unknown grid {grid!r}; give a grid path such as lc/d2/wy1")
    if role == "guard" and grid is None:
        raise ValueError("role guard needs --grid (the grid subtree the guard room watches)")
    if role == "maintenance":
        if maintainer is None:
            raise ValueError("role maintenance needs --maintainer (the maintenance unit id)")
        if maintainer not in registry.maintainers:
            known = ", ".join(sorted(registry.maintainers)) or "none configured"
            raise ValueError(f"unknown maintainer {maintainer!r}; known: {known}")
    elif maintainer is not None:
        raise ValueError("--maintainer applies only to role maintenance")


def create_token(
    ops: OpStore,
    registry: Registry,
    role: str,
    grid: str | None,
    maintainer: str | None,
    name: str | None,
    expires_s: float | None,
    now: float,
) -> tuple[str, StoredToken]:
    """Create and store a token; returns the token string (shown once) and its record."""
    _check_scope(registry, role, grid, maintainer)
    if expires_s is not None and expires_s <= 0:
        raise ValueError("expiry must be more than zero seconds")
    token_id = secrets.token_hex(4)
    while ops.get_token(token_id) is not None:
        token_id = secrets.token_hex(4)
    token = f"gw_{token_id}_{secrets.token_urlsafe(24)}"
    stored = StoredToken(
        id=token_id,
        name=name or f"{role}:{grid or maintainer or 'street'}",
        role=role,
        grid=grid,
        maintainer=maintainer,
        sha256=token_hash(token),
        created_at=now,
        expires_at=None if expires_s is None else now + expires_s,
        revoked_at=None,
    )
    ops.add_token(stored)
    return token, stored


def _same(a: str, b: str) -> bool:
    # compare_digest refuses non-ASCII str; bytes keep it constant-time for any input.
    return hmac.compare_digest(a.encode(), b.encode())


def _spec_expiry(spec: TokenSpec) -> float | None:
    if spec.expires is None:
        return None
    expires = spec.expires
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires.timestamp()


def verify(
    ops: OpStore, registry: Registry, token: str, now: float, bootstrap: str | None = None
) -> Principal | None:
    """The principal of a token, or None when it is unknown, expired or revoked."""
    found = _verify_record(ops, registry, token, now, bootstrap)
    if found is None or found.role != "maintenance":
        return found
    mine = frozenset(d.id for d in registry.devices.values() if d.maintainer == found.maintainer)
    return Principal(found.token_id, found.name, found.role, found.grid, found.maintainer, mine)


def _verify_record(
    ops: OpStore, registry: Registry, token: str, now: float, bootstrap: str | None
) -> Principal | None:
    if bootstrap and _same(token, bootstrap):
        return Principal(BOOTSTRAP_ID, BOOTSTRAP_ID, "ops", None, None)
    digest = token_hash(token)
    match = _TOKEN.match(token)
    if match is not None:
        stored = ops.get_token(match.group(1))
        if (
            stored is not None
            and _same(digest, stored.sha256)
            and stored.revoked_at is None
            and (stored.expires_at is None or now < stored.expires_at)
        ):
            return Principal(stored.id, stored.name, stored.role, stored.grid, stored.maintainer)
    for spec in registry.tokens.values():
        if _same(digest, spec.sha256):
            expiry = _spec_expiry(spec)
            if expiry is not None and now >= expiry:
                return None
            return Principal(spec.id, spec.name, spec.role, spec.grid, spec.maintainer)
    return None
