"""The `gridwatch token` commands: create, list and revoke, printing to the terminal."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TextIO

from api.tokens import create_token, parse_duration
from config.registry import Registry
from store.interfaces import OpStore


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def cmd_token_create(
    ops: OpStore,
    registry: Registry,
    role: str,
    grid: str | None = None,
    maintainer: str | None = None,
    name: str | None = None,
    expires: str | None = None,
    *,
    now: float | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`gridwatch token create`: prints the token on the first line, then its record.
    Streams default to the process's at call time, so tests can capture them."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        expires_s = None if expires is None else parse_duration(expires)
        when = time.time() if now is None else now
        token, stored = create_token(ops, registry, role, grid, maintainer, name, expires_s, when)
    except ValueError as exc:
        print(f"gridwatch token create: {exc}", file=err)
        return 2
    print(token, file=out)
    print(
        f"id={stored.id} role={stored.role} grid={stored.grid or '-'} "
        f"maintainer={stored.maintainer or '-'} expires={_when(stored.expires_at)}",
        file=out,
    )
    print("The token is shown only now; it is stored hashed.", file=err)
    return 0


def cmd_token_list(ops: OpStore, *, now: float | None = None, out: TextIO | None = None) -> int:
    """`gridwatch token list`: one line per stored token, tab-separated, with its state."""
    now = time.time() if now is None else now
    out = out or sys.stdout
    print("id\tname\trole\tgrid\tmaintainer\tcreated\texpires\tstate", file=out)
    for t in ops.list_tokens():
        if t.revoked_at is not None:
            state = f"revoked {_when(t.revoked_at)}"
        elif t.expires_at is not None and now >= t.expires_at:
            state = "expired"
        else:
            state = "active"
        fields = (t.id, t.name, t.role, t.grid or "-", t.maintainer or "-")
        times = (_when(t.created_at), _when(t.expires_at), state)
        print("\t".join(fields + times), file=out)
    return 0


def cmd_token_revoke(
    ops: OpStore,
    token_id: str,
    *,
    now: float | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`gridwatch token revoke ID`: exit 1 when there is no such token."""
    out, err = out or sys.stdout, err or sys.stderr
    if not ops.revoke_token(token_id, time.time() if now is None else now):
        print(f"gridwatch token revoke: no token {token_id!r}", file=err)
        return 1
    print(f"revoked {token_id}", file=out)
    return 0
