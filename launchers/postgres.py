"""A private PostgreSQL cluster on a free loopback port, for tests and benchmarks.

Built from Debian's `postgresql` package binaries (/usr/lib/postgresql/*/bin): `initdb`
into a temporary folder, then `postgres` on a free port with its socket in that folder,
so it never touches a system cluster (one may be running on 5432). PostgreSQL refuses
to run as root; started as root, the cluster runs as `nobody`, owning its folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from gridwatch.ports import free_port

DATABASE = "gridwatch"
SUPERUSER = "gridwatch"
UNPRIVILEGED = "nobody"


class PostgresMissing(RuntimeError):
    pass


def postgres_bin() -> Path:
    """The newest installed server's bin folder; PostgresMissing says how to get one."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise PostgresMissing(
            "PostgreSQL server binaries not found under /usr/lib/postgresql "
            "(Debian: apt-get install postgresql)"
        )
    return found[-1].parent


class PostgresCluster:
    """One postgres process on a fresh cluster; `url` reaches database `gridwatch`.

    `fsync=False` trades durability for speed (tests); benchmarks keep it on, to
    compare with SQLite's synchronous=FULL on equal terms."""

    def __init__(self, fsync: bool = False) -> None:
        self.bin = postgres_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="gridwatch-pg-"))
        self.data = self.root / "data"
        self.fsync = fsync
        self.proc: subprocess.Popen[bytes] | None = None
        self._user = UNPRIVILEGED if os.geteuid() == 0 else None
        if self._user is not None:
            shutil.chown(self.root, self._user)

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    def admin_url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def start(self, timeout_s: float = 30.0) -> None:
        if not self.data.exists():
            self._run(
                [str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                 "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            )
            fresh = True
        else:
            fresh = False
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 - the server's lifetime
        self.proc = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.root), "-c", "listen_addresses=127.0.0.1",
             "-c", f"fsync={'on' if self.fsync else 'off'}", "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, user=self._user,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self.admin_url(), autocommit=True, connect_timeout=2) as c:
                    if fresh:
                        c.execute(f"CREATE DATABASE {DATABASE}")
                return
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    tail = (self.root / "postgres.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"postgres did not start on {self.port}:\n{tail}") from None
                time.sleep(0.1)

    def reset(self) -> None:
        """Drop and recreate the database: a fresh op store for the next test."""
        with psycopg.connect(self.admin_url(), autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            c.execute(f"CREATE DATABASE {DATABASE}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: fast shutdown, clients disconnected
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(argv, capture_output=True, user=self._user, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{argv[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')}"
            )


@contextmanager
def running_postgres(fsync: bool = False) -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(fsync=fsync)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
