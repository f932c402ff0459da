"""Latency from an alert raised (handed to dispatch) to its event on an SSE stream,
under load, beside the round trip of `GET /healthz` on the same server at the same
time: the ratio is what the store, the log and the stream add to a bare HTTP answer."""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from api.app import create_app
from api.context import ApiContext
from bench.dispatch import T0, workload
from bench.kit import ROUNDS, Result
from bench.ops_targets import OpsTarget
from config.loader import DEFAULT_CONFIG_DIR, load_registry
from dispatch.dispatcher import Dispatcher
from gridwatch.clock import ManualClock
from gridwatch.notify import LogNotifier
from gridwatch.ports import free_port
from store.factory import open_timeseries
from store.interfaces import OpStore

TOKEN = "gw-bench-bootstrap-secret-0123456789"


def _read_stream(base: str, raised: dict[str, float], out: list[float], ready: threading.Event,
                 expected: int) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "text/event-stream"}
    seen: set[str] = set()
    with httpx.stream("GET", f"{base}/api/v1/alerts/stream", headers=headers,
                      timeout=httpx.Timeout(5, read=30)) as r:
        ready.set()
        for line in r.iter_lines():
            if not line.startswith("data:"):
                continue
            now = time.perf_counter()
            alert = json.loads(line[5:])
            fp = alert["fingerprint"]
            if fp in raised and fp not in seen and alert["status"] == "firing":
                seen.add(fp)
                out.append(now - raised[fp])
                if len(seen) == expected:
                    return


def _round(quick: bool, root: Path, target: OpsTarget) -> tuple[list[float], list[float]]:
    with target.open(root) as ops:
        return _measure(quick, root, ops)


def _measure(quick: bool, root: Path, ops: OpStore) -> tuple[list[float], list[float]]:
    registry = load_registry(DEFAULT_CONFIG_DIR)
    changes = [c for c in workload(registry, 200 if quick else 1000) if c.kind == "fire"]
    timeseries = open_timeseries("embedded", root)
    notifier = LogNotifier()
    clock = ManualClock(T0)
    dispatcher = Dispatcher(registry, ops, notifier, [], clock)
    ctx = ApiContext(registry=registry, ops=ops, timeseries=timeseries, notifier=notifier,
                     ack_alert=dispatcher.ack, clock=clock, bootstrap_token=TOKEN)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ctx),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    while not server.started:
        time.sleep(0.01)
    base = f"http://127.0.0.1:{port}"
    raised: dict[str, float] = {}
    latencies: list[float] = []
    ready = threading.Event()
    reader = threading.Thread(
        target=_read_stream, args=(base, raised, latencies, ready, len(changes)), daemon=True
    )
    reader.start()
    ready.wait(5)
    round_trips: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=base) as c:
            while not stop.is_set():
                start = time.perf_counter()
                c.get("/healthz")
                round_trips.append(time.perf_counter() - start)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    # The load: 500 alerts/s offered, far above a street's worst minute. On a disk too
    # slow for that the producer simply runs flat out: each latency is measured from
    # the hand-over to dispatch, so it never includes time spent waiting to be offered.
    interval = 1 / 500
    for n, change in enumerate(changes):
        raised[change.fingerprint] = time.perf_counter()
        dispatcher.apply([change])
        time.sleep(max(0.0, raised[changes[0].fingerprint] + (n + 1) * interval
                       - time.perf_counter()))
    reader.join(30)
    stop.set()
    prober.join(5)
    server.should_exit = True
    serving.join(10)  # the stores are closed only once nothing serves from them
    timeseries.close()
    return latencies, round_trips


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def latency(quick: bool, targets: list[OpsTarget]) -> list[Result]:
    """SQLite's p50 and p99 beside the HTTP round trip; each other store's beside
    SQLite's from the same rounds."""
    p50: dict[str, list[float]] = {t.name: [] for t in targets}
    p99: dict[str, list[float]] = {t.name: [] for t in targets}
    ref50: list[float] = []
    ref99: list[float] = []
    for _ in range(ROUNDS):
        for target in targets:
            with tempfile.TemporaryDirectory(prefix="gw-bench-sse-") as tmp:
                lat, rtt = _round(quick, Path(tmp), target)
            p50[target.name].append(_pct(lat, 0.5))
            p99[target.name].append(_pct(lat, 0.99))
            if target.name == "SQLite":
                ref50.append(_pct(rtt, 0.5))
                ref99.append(_pct(rtt, 0.99))
    load = "500 alerts/s offered"
    sqlite50, sqlite99 = statistics.median(p50["SQLite"]), statistics.median(p99["SQLite"])
    results = [
        Result(f"alert raised -> SSE event p50 ({load})", "ms", sqlite50,
               "GET /healthz round trip p50, same server, same time", statistics.median(ref50)),
        Result(f"alert raised -> SSE event p99 ({load})", "ms", sqlite99,
               "GET /healthz round trip p99, same server, same time", statistics.median(ref99)),
    ]
    for t in targets:
        if t.name == "SQLite":
            continue
        results += [
            Result(f"alert raised -> SSE event p50 on {t.name} ({load})", "ms",
                   statistics.median(p50[t.name]), "the same on SQLite, same run", sqlite50),
            Result(f"alert raised -> SSE event p99 on {t.name} ({load})", "ms",
                   statistics.median(p99[t.name]), "the same on SQLite, same run", sqlite99),
        ]
    return results
