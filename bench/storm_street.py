"""The storm bench's street: the sample street with more smoke and heat detectors.

The sample street has 825 of them; the storm the issue reports was about 6,000 lesser
alerts at once (a power cut silencing whole buildings). So the bench writes its own
configuration: the sample street's files as they are, plus one more devices file of
copies of its detectors (same agent, grid, building, floor and rules; ids suffixed
`-xN`), until the street has `total` of them. Everything else (agents, receivers,
routes, rules) is the sample street's, so routing and grouping cost what they would.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import yaml

from config.loader import DEFAULT_CONFIG_DIR

STORM_TYPES = ("smoke_detector", "heat_detector")  # each has a battery-low warning rule


def write_storm_street(out: Path, total: int) -> Path:
    """The sample street with `total` smoke and heat detectors, written under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    originals: list[dict[str, object]] = []
    for src in sorted(DEFAULT_CONFIG_DIR.glob("*.yaml")):
        shutil.copyfile(src, out / src.name)
        if src.name.startswith("devices-"):
            doc = yaml.safe_load(src.read_text(encoding="utf-8"))
            originals += [d for d in doc["devices"] if d["type"] in STORM_TYPES]
    copies: list[dict[str, object]] = []
    for n, device in zip(range(max(0, total - len(originals))), itertools.cycle(originals)):
        copies.append({**device, "id": f"{device['id']}-x{n // len(originals) + 1}"})
    text = yaml.safe_dump({"devices": copies}, allow_unicode=True, sort_keys=False,
                          default_flow_style=None, width=1000)
    (out / "devices-storm.yaml").write_text(text, encoding="utf-8")
    return out
