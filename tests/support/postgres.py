"""PostgreSQL for tests: a private cluster (launchers.postgres), skipped with the reason
where the server binaries are absent, but a failure under GRIDWATCH_REQUIRE_POSTGRES
(set by .ci/run, which installs Debian's `postgresql`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from launchers.postgres import PostgresCluster, PostgresMissing
from launchers.postgres import running_postgres as _running_postgres

__all__ = ["PostgresCluster", "running_postgres"]


@contextmanager
def running_postgres() -> Iterator[PostgresCluster]:
    try:
        with _running_postgres() as cluster:
            yield cluster
    except PostgresMissing as exc:
        if os.environ.get("GRIDWATCH_REQUIRE_POSTGRES"):
            pytest.fail(f"GRIDWATCH_REQUIRE_POSTGRES is set but {exc}")
        pytest.skip(str(exc))
