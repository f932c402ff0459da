"""Tokens: format, hashed storage, validation, verification from all three sources, CLI."""

from __future__ import annotations

import hashlib
import io
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.tokens import create_token, parse_duration, verify
from app.token_commands import cmd_token_create, cmd_token_list, cmd_token_revoke
from config.models import TokenSpec
from config.registry import Registry
from store.opstate_sqlite import SqliteOpStore
from tests.support.tiny_street import AREA_WY1, T0, lc_street

CONFIG_TOKEN = "gw_c0ffee00_this-token-lives-in-the-yaml-config0"


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[SqliteOpStore]:
    store = SqliteOpStore(tmp_path / "ops.sqlite3")
    yield store
    store.close()


@pytest.fixture
def registry() -> Registry:
    spec = TokenSpec(
        id="cfg-guard",
        name="yaml guard",
        role="guard",
        grid=AREA_WY1,
        sha256=hashlib.sha256(CONFIG_TOKEN.encode()).hexdigest(),
        expires=datetime.fromtimestamp(T0 + 3600, UTC),
    )
    return lc_street(tokens=[spec])


def test_token_format_and_only_its_hash_is_stored(
    ops: SqliteOpStore, registry: Registry, tmp_path: Path
) -> None:
    token, stored = create_token(ops, registry, "ops", None, None, "centre", None, T0)
    match = re.fullmatch(r"gw_([0-9a-f]{8})_([A-Za-z0-9_-]{32})", token)
    assert match is not None and match.group(1) == stored.id
    assert stored.sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert ops.get_token(stored.id) == stored
    dump = "\n".join(sqlite3.connect(tmp_path / "ops.sqlite3").iterdump())
    assert match.group(2) not in dump


def test_tokens_differ(ops: SqliteOpStore, registry: Registry) -> None:
    made = {create_token(ops, registry, "ops", None, None, None, None, T0)[0] for _ in range(20)}
    assert len(made) == 20


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("3600s", 3600)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "-1d", "0s", "1w", "1.5.2h", "h30"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("role", "grid", "maintainer", "message"),
    [
        ("root", None, None, "unknown role"),
        ("guard", None, None, "needs --grid"),
        ("guard", "lc/d9", None, "unknown grid"),
        ("maintenance", None, None, "needs --maintainer"),
        ("maintenance", None, "nobody", "unknown maintainer"),
        ("ops", None, "elev1", "only to role maintenance"),
    ],
)
def test_create_refuses_bad_scope(
    ops: SqliteOpStore,
    registry: Registry,
    role: str,
    grid: str | None,
    maintainer: str | None,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        create_token(ops, registry, role, grid, maintainer, None, None, T0)
    assert ops.list_tokens() == []


def test_verify_store_token_until_expiry_or_revocation(
    ops: SqliteOpStore, registry: Registry
) -> None:
    token, stored = create_token(ops, registry, "guard", AREA_WY1, None, "wy1", 60.0, T0)
    principal = verify(ops, registry, token, T0 + 59)
    assert principal is not None
    assert (principal.role, principal.grid, principal.token_id) == ("guard", AREA_WY1, stored.id)
    assert verify(ops, registry, token, T0 + 60) is None
    ops.revoke_token(stored.id, T0 + 1)
    assert verify(ops, registry, token, T0 + 2) is None


def test_verify_refuses_forged_tokens(ops: SqliteOpStore, registry: Registry) -> None:
    token, stored = create_token(ops, registry, "ops", None, None, None, None, T0)
    forged_secret = token[:-1] + ("A" if token[-1] != "A" else "B")
    unknown_id = f"gw_{'0' * 8 if stored.id != '0' * 8 else '1' * 8}{token[11:]}"
    for bad in (forged_secret, unknown_id, "", "gw_", token + "x", token.upper(), "Bearer"):
        assert verify(ops, registry, bad, T0) is None, bad


def test_verify_config_token_by_hash_with_expiry(ops: SqliteOpStore, registry: Registry) -> None:
    principal = verify(ops, registry, CONFIG_TOKEN, T0)
    assert principal is not None
    assert (principal.token_id, principal.role, principal.grid) == ("cfg-guard", "guard", AREA_WY1)
    assert verify(ops, registry, CONFIG_TOKEN, T0 + 3600) is None


def test_verify_bootstrap_is_ops_for_the_street(ops: SqliteOpStore, registry: Registry) -> None:
    principal = verify(ops, registry, "boot-秘密", T0, bootstrap="boot-秘密")
    assert principal is not None and (principal.role, principal.grid) == ("ops", None)
    assert verify(ops, registry, "boot-other", T0, bootstrap="boot-秘密") is None
    assert verify(ops, registry, "", T0, bootstrap="") is None


def test_maintenance_principal_carries_its_devices(ops: SqliteOpStore, registry: Registry) -> None:
    token, _ = create_token(ops, registry, "maintenance", None, "elev1", None, None, T0)
    principal = verify(ops, registry, token, T0)
    assert principal is not None
    expected = {d.id for d in registry.devices.values() if d.maintainer == "elev1"}
    assert principal.devices == frozenset(expected) and expected


def test_cli_create_list_revoke(ops: SqliteOpStore, registry: Registry) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cmd_token_create(
        ops, registry, "guard", AREA_WY1, None, "gate", "12h", now=T0, out=out, err=err
    )
    assert code == 0
    token = out.getvalue().splitlines()[0]
    principal = verify(ops, registry, token, T0 + 3600)
    assert principal is not None and principal.name == "gate"
    assert verify(ops, registry, token, T0 + 12 * 3600) is None

    listing = io.StringIO()
    assert cmd_token_list(ops, now=T0, out=listing) == 0
    rows = [line.split("\t") for line in listing.getvalue().splitlines()[1:]]
    assert [(r[0], r[2], r[3], r[-1]) for r in rows] == [
        (principal.token_id, "guard", AREA_WY1, "active")
    ]
    assert token not in listing.getvalue()

    assert cmd_token_revoke(ops, principal.token_id, now=T0 + 5, out=out, err=err) == 0
    assert verify(ops, registry, token, T0 + 6) is None
    listing = io.StringIO()
    cmd_token_list(ops, now=T0 + 6, out=listing)
    assert listing.getvalue().splitlines()[1].split("\t")[-1].startswith("revoked")


def test_cli_reports_bad_input(ops: SqliteOpStore, registry: Registry) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert cmd_token_create(ops, registry, "guard", now=T0, out=out, err=err) == 2
    assert "needs --grid" in err.getvalue() and out.getvalue() == ""
    assert cmd_token_create(ops, registry, "ops", expires="soon", now=T0, out=out, err=err) == 2
    assert cmd_token_revoke(ops, "deadbeef", now=T0, out=out, err=err) == 1
    assert "no token" in err.getvalue()
