"""The agent's own camera analysis end to end: `gridwatch edge` (a child process) plays
300 frames of CDnet highway as a camera of the sample street, a line across the road is
crossed by the passing cars (checked beforehand: 3 crossings of the y=0.5 line at 10 fps),
and through the real Mosquitto and `gridwatch serve` the crossing becomes an alert, with
its snapshot JPEG saved by the backend. A line crossing is used because the sample
rules alert on intrusion only at night and on parking only after 180 s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_edge_store_forward import REPO, wait
from tests.support.backend_proc import BackendProcess
from tests.support.mosquitto import Broker

pytestmark = pytest.mark.integration

AGENT, CAMERA = "lc1-edge", "lc1-b01-cam-0101"
FRAMES = 300  # 12 s of video at 25 fps, played at recorded pace


def camera_settings(clip: Path) -> dict[str, object]:
    road_line = {"name": "road-line", "kind": "line", "points": [[0.0, 0.5], [1.0, 0.5]]}
    return {"simulators": False, "outbox": {"on_disk": True},
            "cameras": [{"device": CAMERA, "source": str(clip), "fps": 10, "width": 320,
                         "readings_interval_s": 2, "zones": [road_line]}]}


def test_a_car_crossing_a_road_line_becomes_an_alert_with_a_snapshot(
    tmp_path: Path, shared_dir: Path, broker: Broker, backend: BackendProcess
) -> None:
    frames = sorted((shared_dir / "data/video/cdnet-highway/input").glob("*.jpg"))[:FRAMES]
    clip = tmp_path / "clip"
    clip.mkdir()
    for f in frames:
        (clip / f.name).symlink_to(f)
    adapters = tmp_path / "adapters.yaml"
    adapters.write_text(json.dumps(camera_settings(clip)))  # JSON is YAML
    cmd = [sys.executable, "-m", "app.cli", "edge", "--agent", AGENT, "--mqtt",
           broker.url, "--data-dir", str(tmp_path / "edge"), "--adapters", str(adapters)]
    log = tmp_path / "agent.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        with backend.client() as api:
            def crossing_alerts() -> list[dict[str, object]]:
                assert proc.poll() is None, f"the agent died:\n{log.read_text()[-3000:]}"
                alerts = api.get("/api/v1/alerts", params={"status": "all"}).json()
                return [a for a in alerts
                        if a["device"] == CAMERA and a["type"] == "camera.line_crossing"]

            wait("a camera.line_crossing alert", lambda: bool(crossing_alerts()), 30.0)
        snapshots = backend.data_dir / "snapshots" / AGENT
        wait("the snapshot file", lambda: any(snapshots.glob("*.jpg")), 5.0)
    finally:
        proc.terminate()
        proc.wait(15)
    jpeg = next(snapshots.glob("*.jpg")).read_bytes()
    assert jpeg[:2] == b"\xff\xd8" and len(jpeg) > 1000
    assert next(snapshots.glob("*.jpg")).stem.startswith(CAMERA)
