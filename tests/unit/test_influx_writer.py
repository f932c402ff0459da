"""BatchWriter: retries that honour Retry-After, refused lines isolated for the dead
letters, and nothing lost when the server stays away (spool, then flush)."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.influx_spool import DiskSpool
from store.influx_writer import BatchWriter, RetryPolicy, SpoolFull, WriteFailed

POLICY = RetryPolicy(attempts=4, initial_s=1.0, max_wait_s=60.0, max_lines=8)


class FakeServer:
    """Accepts lines unless told to fail; a batch with a line starting "bad" is a 400."""

    def __init__(self, failures: list[WriteFailed] | None = None) -> None:
        self.failures = list(failures or [])
        self.down = False
        self.written: list[str] = []
        self.requests = 0

    def send(self, lines: list[str]) -> None:
        self.requests += 1
        if self.down:
            raise WriteFailed(None, "connection refused")
        if self.failures:
            raise self.failures.pop(0)
        if any(line.startswith("bad") for line in lines):
            raise WriteFailed(400, "unable to parse")
        self.written.extend(lines)


class Harness:
    def __init__(self, tmp_path: Path, server: FakeServer, policy: RetryPolicy = POLICY):
        self.server = server
        self.sleeps: list[float] = []
        self.dead: list[tuple[str, str]] = []
        self.spool = DiskSpool(tmp_path / "spool")
        self.writer = BatchWriter(server.send, self.spool,
                                  lambda line, why: self.dead.append((line, why)),
                                  policy, sleep=self.sleeps.append)


def lines(n: int, prefix: str = "m") -> list[str]:
    return [f"{prefix},device=d v={i} {i}" for i in range(n)]


def test_retry_after_is_honoured_and_capped(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeServer([WriteFailed(429, "slow down", retry_after=7.0),
                                      WriteFailed(503, "busy", retry_after=600.0)]))
    h.writer.write(lines(3))
    assert h.sleeps == [7.0, POLICY.max_wait_s]
    assert h.server.written == lines(3)


def test_backoff_grows_without_retry_after(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeServer([WriteFailed(503, "busy")] * 3))
    h.writer.write(lines(3))
    assert len(h.sleeps) == 3
    assert h.sleeps == sorted(h.sleeps) and h.sleeps[0] < h.sleeps[-1]
    assert h.server.written == lines(3)


def test_refused_lines_go_to_dead_letters_and_the_rest_is_written(tmp_path: Path) -> None:
    good = lines(20)
    batch = [*good[:5], "bad line 1", *good[5:13], "bad line 2", *good[13:]]
    h = Harness(tmp_path, FakeServer())
    h.writer.write(batch)
    assert [line for line, _ in h.dead] == ["bad line 1", "bad line 2"]
    assert all("400" in why for _, why in h.dead)
    assert sorted(set(h.server.written)) == sorted(good)
    assert h.spool.depth() == 0


def test_server_away_spools_then_flush_delivers_everything(tmp_path: Path) -> None:
    server = FakeServer()
    server.down = True
    h = Harness(tmp_path, server)
    batch = lines(20)
    h.writer.write(batch)  # 3 chunks of at most 8 lines, each retried then spooled
    assert server.written == []
    assert sorted(line for p in h.spool.pending() for line in h.spool.read(p)) == sorted(batch)
    assert h.writer.flush_spool() == 3  # still away: all kept
    server.down = False
    assert h.writer.flush_spool() == 0
    assert sorted(server.written) == sorted(batch)


def test_a_wrong_token_is_spooled_at_once(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeServer([WriteFailed(401, "unauthorized")]))
    h.writer.write(lines(3))
    assert h.sleeps == [] and h.server.requests == 1
    assert h.spool.depth() == 1


def test_split_stops_when_the_server_goes_away_and_spools_only_the_rest(
    tmp_path: Path,
) -> None:
    server = FakeServer()
    h = Harness(tmp_path, server)
    batch = [*lines(4), "bad line", *lines(3, prefix="n")]

    def send_then_die(chunk: list[str]) -> None:
        server.send(chunk)
        server.down = True  # after the first accepted request

    h.writer._send = send_then_die
    h.writer.write(batch)
    # The 400 split the batch; its first half was written, the second could not go.
    assert server.written == batch[:4]
    assert [h.spool.read(p) for p in h.spool.pending()] == [batch[4:]]
    assert h.dead == []
    server.down = False
    h.writer._send = server.send
    assert h.writer.flush_spool() == 0
    assert [line for line, _ in h.dead] == ["bad line"]
    assert sorted(server.written) == sorted(set(batch) - {"bad line"})


def test_while_batches_wait_on_disk_a_new_batch_gets_one_attempt(tmp_path: Path) -> None:
    server = FakeServer()
    server.down = True
    h = Harness(tmp_path, server)
    h.writer.write(lines(3))
    assert server.requests == POLICY.attempts and len(h.sleeps) == POLICY.attempts - 1
    h.writer.write(lines(3, prefix="n"))  # an alarm's batch must not wait out a backoff
    assert server.requests == POLICY.attempts + 1 and len(h.sleeps) == POLICY.attempts - 1
    assert h.spool.depth() == 2


def test_a_full_spool_refuses_instead_of_growing(tmp_path: Path) -> None:
    server = FakeServer()
    server.down = True
    h = Harness(tmp_path, server, RetryPolicy(attempts=1, max_lines=8, max_spooled_batches=2))
    h.writer.write(lines(16))  # two batches: the spool is now full
    with pytest.raises(SpoolFull):
        h.writer.write(lines(3, prefix="n"))  # not acknowledged: the broker keeps it
    assert h.spool.depth() == 2
