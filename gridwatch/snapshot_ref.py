"""Camera snapshot references: the one rule for a snapshot id, and the one way from an
id to a file.

A snapshot id arrives from the wire twice (the `snapshots/{id}` topic and an event's
`snapshot` field) and once from a URL; all three are checked with `id_problem`. Files
live at `<root>/<agent>/<id>.jpg`; `snapshot_file` resolves that path and accepts it
only when the real file is exactly there, so an absolute path, `..`, or a symlink (of
the file or of the agent's folder) pointing elsewhere can never be served.
"""

from __future__ import annotations

import re
from pathlib import Path

MAX_LEN = 128
# A letter, digit, '_' or '-' first: no hidden names, no '.' or '..'; then the edge's
# ids ('cam-1.3f2a9c1d.7-snap') with dots allowed, but never two in a row.
PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$"
_ID = re.compile(PATTERN)
SUFFIX = ".jpg"


def id_problem(value: object) -> str | None:
    """Why `value` is not a snapshot id (a sentence saying what to send), or None."""
    if not isinstance(value, str):
        return f"snapshot must be a string id, not {type(value).__name__}"
    if not _ID.match(value) or ".." in value:
        shown = value[:40] + ("..." if len(value) > 40 else "")
        return (
            f"snapshot id {shown!r} must be 1-{MAX_LEN} of A-Z a-z 0-9 _ - . "
            "(not starting with '.', no '..'): an id, never a path"
        )
    return None


def snapshot_path(root: Path, agent: str, snapshot_id: str) -> Path:
    """Where the snapshot is to be written: `<root>/<agent>/<id>.jpg`; ValueError when
    either name is not an id (agents are registry ids of the same alphabet)."""
    for what, name in (("agent", agent), ("snapshot", snapshot_id)):
        if (why := id_problem(name)) is not None:
            raise ValueError(f"{what}: {why}")
    return root / agent / f"{snapshot_id}{SUFFIX}"


def snapshot_file(root: Path, agent: str, snapshot_id: str) -> Path | None:
    """The existing regular file of a snapshot, or None when the names are not ids, the
    file is missing, or its real path is not directly in the agent's folder under the
    real root (a symlink anywhere below the root, or out of it, is refused)."""
    try:
        path = snapshot_path(root, agent, snapshot_id)
        real = path.resolve(strict=True)
        expected = root.resolve(strict=True) / agent / path.name
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return None
    return real if real == expected and real.is_file() else None
