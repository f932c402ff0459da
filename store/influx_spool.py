"""A disk spool of line-protocol batches that could not be written yet.

One file per batch, written to a temporary name, fsynced, renamed into place and the
folder fsynced: once `put` returns the batch survives a crash or power loss, which is
what lets the store return (and ingest acknowledge) while the server is down. Files
are named by a zero-padded sequence number so that the oldest is retried first; a
leftover temporary file (a crash inside `put`) is ignored, since its `put` never
returned and so its messages were never acknowledged.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_SUFFIX = ".lp"


class DiskSpool:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._next: int | None = None  # read lazily: the folder is made at first use

    def put(self, lines: list[str]) -> Path:
        data = ("\n".join(lines) + "\n").encode()
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self._next is None:
                self._next = max((int(p.stem) for p in self.pending()), default=0) + 1
            path = self.folder / f"{self._next:012d}{_SUFFIX}"
            self._next += 1
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            self._sync_folder()
        return path

    def pending(self) -> list[Path]:
        """Spooled batches, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob(f"*{_SUFFIX}"))

    def depth(self) -> int:
        return len(self.pending())

    @staticmethod
    def read(path: Path) -> list[str]:
        return [line for line in path.read_text().split("\n") if line]

    def replace(self, path: Path, lines: list[str]) -> None:
        """Keep only `lines` of a batch (the rest was written), atomically."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self._sync_folder()

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._sync_folder()

    def _sync_folder(self) -> None:
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
