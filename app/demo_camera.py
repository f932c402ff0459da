"""The demo's camera: the agent's own camera analysis on a shared public clip (CDnet
highway), a line across the road, so that every passing car is a `camera.line_crossing`
event with a real snapshot JPEG behind the alert. Skipped, with a line saying so, when
the shared data is not on this machine."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from config.registry import Registry
from edge.adapters.camera import CameraAdapter
from edge.settings import CameraSpec
from edge.wiring import camera_config

log = logging.getLogger("app.demo")

CLIP_ENV = "GRIDWATCH_DEMO_CLIP"
CLIP = Path("data/video/cdnet-highway/input")
ROOT = Path(__file__).resolve().parents[1]
# ../shared next to the repository, or next to the folder of worktrees it sits in.
SHARED = (ROOT.parent / "shared", ROOT.parent.parent / "shared")


def find_clip() -> Path | None:
    """The clip: $GRIDWATCH_DEMO_CLIP (a video file or a folder of frames), else the
    shared CDnet highway frames."""
    given = os.environ.get(CLIP_ENV)
    if given:
        return Path(given) if Path(given).exists() else None
    return next((s / CLIP for s in SHARED if (s / CLIP).is_dir()), None)


def camera_adapter(registry: Registry, area: str) -> tuple[str, CameraAdapter] | None:
    """(agent id, its camera adapter) for the first camera of `area`, or None (said in
    the log) when there is no clip or no camera."""
    clip = find_clip()
    camera = next((d for d in registry.devices_in(area) if d.type == "camera"), None)
    if clip is None or camera is None:
        log.warning("demo: no camera clip (set %s or put ../shared next to the repository): "
                    "the camera event is skipped", CLIP_ENV)
        return None
    road_line = {"name": "road-line", "kind": "line", "points": [[0.0, 0.5], [1.0, 0.5]]}
    spec = CameraSpec.model_validate({"device": camera.id, "source": str(clip), "fps": 10,
                                      "width": 320, "zones": [road_line]})
    config = camera_config(camera.agent, registry, spec)
    return camera.agent, CameraAdapter(camera.agent, [config])
