"""The operational store on PostgreSQL, shared by replicas that run side by side.

Every query is `SqlOpStore`'s, translated by `store.pg_dialect`; this module adds what
sharing needs:

- a connection pool (psycopg_pool), one transaction per call, READ COMMITTED;
- `alert_tx` takes one transaction-scoped advisory lock before it reads: two replicas
  deciding the same fire queue on it, so the second sees the first's committed row
  and adopts it (the unique index on firing fingerprints stays as the backstop), and
  alert-log sequence numbers commit in order, so an SSE stream that has read entry n
  can never later find an entry below n appear (it would skip it);
- `claim_clause` is `FOR UPDATE SKIP LOCKED`, for rows one replica works on
  (webhook deliveries, escalation timers);
- an alert-log append sends `NOTIFY` at commit, and `listen` wakes this replica's SSE
  streams for changes the other replica made;
- `batch()` holds one connection and one alert transaction for the calling thread's
  calls in the block (issue 16: one commit per batch of alert changes, not per change);
- the numbered migrations run at start, under an advisory lock so that replicas
  starting together apply each once, recorded in `schema_migrations`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from store.interfaces import Cursor
from store.opstate_schema import SCHEMA_VERSION, migration_statements
from store.opstate_sql import SqlOpStore
from store.pg_dialect import PgCursor, translate_ddl

log = logging.getLogger(__name__)
CHANNEL = "gridwatch_alert_log"
# Advisory lock keys (any two bigints unlikely to collide with another application's).
ALERT_LOCK = 0x6777_0001
MIGRATION_LOCK = 0x6777_0002
LISTEN_RETRY_S = 1.0


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class PostgresOpStore(SqlOpStore):
    integrity_errors = (psycopg.errors.IntegrityError,)

    def __init__(
        self, url: str, max_dead_letters: int = 10_000, pool_size: int = 8,
        connect_timeout_s: float = 10.0, search_path: str | None = None,
    ) -> None:
        """`search_path`: a schema to keep every table in (benchmarks use a scratch one)."""
        super().__init__(max_dead_letters)
        self._url = url
        self._stop = threading.Event()
        # Per thread: the cursor of the batch it runs, which its calls join.
        self._batch = threading.local()
        self._listener: threading.Thread | None = None
        self._connect: dict[str, object] = {"connect_timeout": max(1, int(connect_timeout_s))}
        if search_path is not None:
            self._connect["options"] = f"-c search_path={search_path}"
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, name="gridwatch-ops",
            kwargs=self._connect,
        )
        try:
            # One plain connection first: a refused or misconfigured server fails at
            # once with its reason, where the pool would retry until its timeout.
            psycopg.connect(url, **self._connect).close()  # type: ignore[arg-type]
            self._pool.open(wait=True, timeout=connect_timeout_s)
            self._migrate()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            self._pool.close()
            raise ConnectionError(
                f"ops store {redact(url)}: cannot connect ({exc}); check that PostgreSQL "
                "runs there and that the user, password and database are right"
            ) from exc
        except BaseException:
            self._pool.close()
            raise

    # transactions

    def tx(self) -> AbstractContextManager[Cursor]:
        return self._tx(lock=False)

    def redoable_tx(self) -> AbstractContextManager[Cursor]:
        return self._tx(lock=False, durable=False)

    def alert_tx(self) -> AbstractContextManager[Cursor]:
        return self._tx(lock=True)

    def read(self) -> AbstractContextManager[Cursor]:
        return self._tx(lock=False)

    @property
    def claim_clause(self) -> str:
        return " FOR UPDATE SKIP LOCKED"

    @contextmanager
    def batch(self) -> Iterator[None]:
        if getattr(self._batch, "cur", None) is not None:
            yield
            return
        with self._tx(lock=True) as cur:
            self._batch.cur = cur
            try:
                yield
            finally:
                self._batch.cur = None

    @contextmanager
    def _tx(self, lock: bool, durable: bool = True) -> Iterator[PgCursor]:
        joined: PgCursor | None = getattr(self._batch, "cur", None)
        if joined is not None:
            yield joined
            return
        # The pool's context commits when the block ends cleanly, rolls back otherwise.
        with self._pool.connection() as conn, conn.cursor() as raw:
            if not durable:
                # This transaction's commit does not wait for its WAL flush; a later
                # synchronous commit flushes the WAL up to itself, this one included.
                raw.execute("SET LOCAL synchronous_commit TO OFF")
            if lock:
                raw.execute("SELECT pg_advisory_xact_lock(%s)", (ALERT_LOCK,))
            cur = PgCursor(raw)
            yield cur
            if cur.logged_seq:
                raw.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(cur.logged_seq)))

    # replicas

    def listen(self, on_seq: Callable[[int], None]) -> None:
        if self._listener is not None:
            raise RuntimeError("listen() was already called on this store")
        self._listener = threading.Thread(
            target=self._listen, args=(on_seq,), name="ops-listen", daemon=True
        )
        self._listener.start()

    def _listen(self, on_seq: Callable[[int], None]) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, **self._connect) as conn:  # type: ignore[arg-type]
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Anything appended while (re)connecting: the streams re-read the log.
                    head = conn.execute("SELECT coalesce(max(seq), 0) FROM alert_log").fetchone()
                    on_seq(int(head[0]) if head else 0)
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            on_seq(int(note.payload))
            except psycopg.Error as exc:
                if self._stop.is_set():
                    return
                log.warning("ops store: LISTEN connection lost (%s); retrying", exc)
                self._stop.wait(LISTEN_RETRY_S)

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
        self._pool.close()

    # migrations

    def _migrate(self) -> None:
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            done = {int(v) for (v,) in cur.execute("SELECT version FROM schema_migrations")}
            newer = [v for v in done if v > SCHEMA_VERSION]
            if newer:
                raise RuntimeError(
                    f"operational store has schema version {max(newer)}, this build knows "
                    f"{SCHEMA_VERSION}: run the newer gridwatch against it"
                )
            for step in range(1, SCHEMA_VERSION + 1):
                if step in done:
                    continue
                for statement in migration_statements(step):
                    cur.execute(translate_ddl(statement).encode())
                cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (step,))
                log.info("ops store: migration %d applied", step)
