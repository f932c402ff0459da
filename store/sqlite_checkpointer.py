"""The embedded op store's WAL checkpoints, off the writers' path.

SQLite checkpoints a WAL file itself, inside the commit that grows it past
`wal_autocheckpoint` pages, and that checkpoint syncs the database file whatever the
commit's own `synchronous` setting. Under the 6,000-warning storm bench (300 commits a
round) such a commit can be a fire alarm's: a traced round had the alarm's one-row,
unsynced ledger commit hold the store's write lock about 100 ms, which a checkpoint
would explain (not proven: later rounds, with this thread, still had such holds). The
writer connection therefore never checkpoints; this thread does, on a connection of its
own, in PASSIVE mode: it copies what no reader still needs and never waits for a writer
or a reader, so the writers go on appending meanwhile.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

EVERY_S = 0.5  # the WAL grows by at most this much of writing between checkpoints


class WalCheckpointer:
    def __init__(self, path: Path, every_s: float = EVERY_S) -> None:
        self._every_s = every_s
        self._stop = threading.Event()
        self._con = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA busy_timeout=5000")
        self.last: tuple[int, int] | None = None  # the latest round's (frames, copied)
        self.failing = False  # said once when rounds start failing, once when they recover
        self._thread = threading.Thread(target=self._run, name="ops-checkpoint", daemon=True)
        self._thread.start()

    def checkpoint(self) -> tuple[int, int]:
        """One PASSIVE checkpoint now: (frames in the WAL, frames copied back)."""
        _busy, frames, copied = self._con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.last = (int(frames), int(copied))
        return self.last

    def close(self) -> None:
        """Stop the thread; what is left in the WAL is checkpointed by the writer
        connection's close (SQLite does that when the last connection closes)."""
        self._stop.set()
        self._thread.join()
        self._con.close()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self.round()

    def round(self) -> None:
        """One checkpoint; a failure (a full disk, say) is logged once, not every round,
        and the next round tries again."""
        try:
            self.checkpoint()
        except sqlite3.Error as exc:
            if not self.failing:
                log.warning("op store WAL checkpoint failing (the WAL grows meanwhile; "
                            "retried every %.1f s): %s", self._every_s, exc)
            self.failing = True
            return
        if self.failing:
            log.warning("op store WAL checkpoint works again")
        self.failing = False
