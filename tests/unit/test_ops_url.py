"""`--ops` / GRIDWATCH_OPS_URL on the real command line: a bad URL or an unreachable
PostgreSQL is a clear exit 2 that never prints the password; a good one is used by
`gridwatch token` (tokens made there work on every replica)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from store.factory import check_ops_url
from store.opstate_postgres import redact
from tests.support.postgres import PostgresCluster


def gridwatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("url", ["mysql://u:p@h/db", "postgresql://", "sqlite:///x", ""])
def test_a_url_that_is_not_embedded_or_postgresql_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="expected 'embedded' or postgresql://"):
        check_ops_url(url)


def test_redact_hides_the_password() -> None:
    assert redact("postgresql://gw:s3cret@db:5432/gw") == "postgresql://gw:***@db:5432/gw"
    assert redact("postgresql://gw@db/gw") == "postgresql://gw@db/gw"


def test_serve_and_token_refuse_a_bad_ops_url(tmp_path: Path) -> None:
    for argv in (["serve", "--ops", "mysql://x"], ["token", "list", "--ops", "mysql://x"]):
        done = gridwatch(*argv, "--data-dir", str(tmp_path))
        assert done.returncode == 2
        assert "expected 'embedded' or postgresql://" in done.stderr


def test_an_unreachable_postgresql_is_exit_2_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://gw:s3cret-pw@127.0.0.1:1/gw"  # nothing listens on port 1
    done = gridwatch("token", "list", "--data-dir", str(tmp_path),
                     env={"GRIDWATCH_OPS_URL": url})
    assert done.returncode == 2, done.stderr
    assert "cannot connect" in done.stderr and "127.0.0.1:1" in done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout


def test_token_commands_use_postgresql_from_the_environment(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    postgres_cluster.reset()
    env = {"GRIDWATCH_OPS_URL": postgres_cluster.url}
    made = gridwatch("token", "create", "--role", "ops", "--name", "shared",
                     "--data-dir", str(tmp_path / "a"), env=env)
    assert made.returncode == 0, made.stderr
    listed = gridwatch("token", "list", "--data-dir", str(tmp_path / "b"), env=env)
    assert listed.returncode == 0 and "shared" in listed.stdout  # another data dir
    assert not (tmp_path / "a" / "ops.sqlite3").exists()
