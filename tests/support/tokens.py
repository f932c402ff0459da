"""API tokens made the way an operator makes them: with the real `gridwatch token create`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def make_token(data_dir: Path, *args: str) -> str:
    """Runs `gridwatch token create --data-dir DATA_DIR ARGS...` (ARGS may hold `--ops
    URL`); returns the new secret."""
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "create", "--data-dir", str(data_dir),
         *args], capture_output=True, text=True, check=True,
    ).stdout
    return next(w for w in out.split() if w.startswith("gw_"))
