from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Broker, running_broker
from tests.support.op_stores import KINDS, OpStoreKind
from tests.support.postgres import PostgresCluster, running_postgres

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real Mosquitto on a free port, persistence on, stopped after the test."""
    with running_broker(tmp_path / "broker") as b:
        yield b


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared is absent ({SHARED}); it holds the public test data")
    return SHARED



@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One private PostgreSQL for the session (see tests.support.postgres)."""
    with running_postgres() as cluster:
        yield cluster


@pytest.fixture(params=KINDS)
def op_kind(request: pytest.FixtureRequest, tmp_path: Path) -> OpStoreKind:
    """Each op store in turn; PostgreSQL gets an empty database per test."""
    if request.param == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        cluster.reset()
        return OpStoreKind("postgresql", tmp_path, cluster)
    return OpStoreKind("sqlite", tmp_path)
