"""A camera's decoded frames, with the decoder in a child process under a watchdog.

A corrupt stream can make libavcodec abort or hang (opencv-python-headless 4.14.0.94
aborts on bgslibrary's demo.avi with "malloc_consolidate(): invalid chunk size"), and
nothing inside a process survives an abort. So the decoder runs in its own process
(spawned, so it inherits no agent threads or sockets) and hands frames over a small
queue; the agent side restarts it when it dies, errs, or sends nothing for
`stall_timeout_s`, counts every restart, steps over a file's frame that kills the
decoder twice, and gives up on a source after `max_restarts` restarts without a frame
in between. The child also reduces the rate and size, so only
what analysis needs crosses the process boundary.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from edge.camera.decode import Decoded, DecodeError, frames, is_live, resize_to

Child = Callable[[str, int, float, int, Any], None]
_CTX = mp.get_context("spawn")


@dataclass(frozen=True, slots=True)
class SourceSettings:
    url: str  # rtsp://..., a video file, or a folder of images
    fps: float = 0.0  # analysis rate; 0 keeps every frame
    width: int = 0  # frames halved while at least this wide (see `resize_to`); 0 keeps them
    stall_timeout_s: float = 10.0  # no frame for this long: the decoder is hung
    max_restarts: int = 5  # in a row without a frame in between, then the source fails
    backoff_s: float = 1.0  # first wait before a restart, doubled each time up to 30 s
    queue_size: int = 4


@dataclass(slots=True)
class SourceStats:
    frames: int = 0
    restarts: int = 0
    errors: list[str] = field(default_factory=list)
    state: str = "idle"  # idle, running, ended (a file's end), failed (gave up)

    @property
    def last_error(self) -> str | None:
        return self.errors[-1] if self.errors else None


def decode_child(url: str, start: int, fps: float, width: int, out: Any) -> None:
    """The child's main: decoded frames at the analysis rate and size, then "eof"/"error"."""
    live = is_live(url)
    period = 1.0 / fps if fps > 0 else 0.0
    due = float("-inf")
    try:
        for item in frames(url, start):
            if item.ts < due:
                continue
            due = max(due + period, item.ts) if due != float("-inf") else item.ts + period
            frame = Decoded(item.index, item.name, item.ts, resize_to(item.image, width))
            if live:
                # a live stream must keep being read; a slow reader loses frames, not time
                with contextlib.suppress(queue.Full):
                    out.put(("frame", frame), timeout=0)
            else:
                out.put(("frame", frame))
        out.put(("eof", None))
    except DecodeError as exc:
        out.put(("error", str(exc)))
    except Exception as exc:  # any decoder failure is reported, not raised into nowhere
        out.put(("error", f"{type(exc).__name__}: {exc}"))


class CameraSource:
    """Iterate over a camera's frames; survives decoder crashes and hangs."""

    def __init__(
        self,
        settings: SourceSettings,
        child: Child = decode_child,
        cancel: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.stats = SourceStats()
        self._child = child
        # Set by the owner to stop: waits for a frame and before a restart give up at
        # once, so stopping never waits out a hung decoder's stall timeout or a backoff.
        self._cancel = cancel or threading.Event()
        self._proc: BaseProcess | None = None
        self._queue: Any = None
        self._next_index = 0
        self._failures_in_row = 0

    def __iter__(self) -> Iterator[Decoded]:
        try:
            while (frame := self.read()) is not None:
                yield frame
        finally:
            self.close()

    def read(self) -> Decoded | None:
        """The next frame; None once a file has ended or the source has failed for good."""
        while self.stats.state not in ("ended", "failed"):
            if self._cancel.is_set():
                self.close()
                return None
            if self._proc is None:
                self._spawn()
            kind, payload = self._receive()
            if kind == "cancelled":
                continue
            if kind == "frame":
                assert isinstance(payload, Decoded)
                self.stats.frames += 1
                self._failures_in_row = 0
                self._next_index = payload.index + 1
                return payload
            if kind == "eof" and not is_live(self.settings.url):
                self.stats.state = "ended"
                self._stop()
            else:
                self._restart(str(payload) if kind == "error" else "live stream ended")
        return None

    def close(self) -> None:
        self._stop()
        if self.stats.state == "running":
            self.stats.state = "ended"

    def _receive(self) -> tuple[str, object]:
        deadline = time.monotonic() + self.settings.stall_timeout_s
        assert self._proc is not None
        while True:
            try:
                kind, payload = self._queue.get(timeout=0.2)
                return str(kind), payload
            except queue.Empty:
                pass
            if self._cancel.is_set():
                return "cancelled", None
            if not self._proc.is_alive():
                try:  # it may have sent its last words just before it exited
                    kind, payload = self._queue.get(timeout=0.2)
                    return str(kind), payload
                except queue.Empty:
                    return "error", f"decoder died (exit code {self._proc.exitcode})"
            if time.monotonic() > deadline:
                return "error", f"decoder hung: no frame for {self.settings.stall_timeout_s:g} s"

    def _spawn(self) -> None:
        s = self.settings
        self._queue = _CTX.Queue(maxsize=s.queue_size)
        start = 0 if is_live(s.url) else self._next_index
        self._proc = _CTX.Process(
            target=self._child,
            args=(s.url, start, s.fps, s.width, self._queue),
            name=f"decode:{s.url[-40:]}",
            daemon=True,
        )
        self._proc.start()
        self.stats.state = "running"

    def _restart(self, reason: str) -> None:
        self.stats.errors.append(reason)
        del self.stats.errors[:-20]  # keep the recent ones: a flapping camera must stay bounded
        self._stop()
        self._failures_in_row += 1
        if self._failures_in_row > self.settings.max_restarts:
            self.stats.state = "failed"
            return
        self.stats.restarts += 1
        if self._failures_in_row >= 2 and not is_live(self.settings.url):
            # it died again before its first frame: that frame is poison, step over it
            self._next_index += 1
        self._cancel.wait(min(self.settings.backoff_s * 2 ** (self._failures_in_row - 1), 30.0))

    def _stop(self) -> None:
        proc, q = self._proc, self._queue
        self._proc = self._queue = None
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=5)
        if q is not None:
            # a killed child may leave half a message in the pipe: never read this queue again
            q.cancel_join_thread()
            q.close()
