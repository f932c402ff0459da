"""What a newcomer sees from `gridwatch demo`: the three tokens last in a box once the
pages answer (and they work), then only the scripted incidents and warnings, and a
clean stop."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest

from gridwatch.ports import free_port

pytestmark = pytest.mark.integration

TOKEN = re.compile(r"\bgw_[0-9a-f]{8}_[A-Za-z0-9_-]+")


def test_the_demo_prints_working_tokens_last_and_no_info_lines() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo", "--port", str(port), "--duration", "13"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if len([x for x in lines if x.startswith("+-")]) == 2:
                break
        guard = next((m.group(0) for x in lines if "guard room" in x
                      if (m := TOKEN.search(x))), None)
        assert guard is not None, "\n".join(lines)
        # The pages answer by the time the box is printed, and the guard's token works.
        reply = httpx.get(f"http://127.0.0.1:{port}/api/v1/alerts",
                          headers={"Authorization": f"Bearer {guard}"}, timeout=10)
        assert reply.status_code == 200 and isinstance(reply.json(), list)
        rest, _ = proc.communicate(timeout=120)
        lines += rest.splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "\n".join(lines)
    assert proc.returncode == 0, out
    box = [i for i, line in enumerate(lines) if line.startswith("+-")]
    inside = lines[box[0] + 1 : box[1]]
    assert len({len(line) for line in inside}) == 1, "the box's lines are not one width"
    # The box ends with the three tokens, one per person.
    assert [bool(TOKEN.search(line)) for line in inside[-4:]] == [False, True, True, True], out
    after = [line for line in lines[box[1] + 1 :] if line.strip()]
    assert after[0].startswith("[demo +10s] fire in "), out
    assert after[-1] == "gridwatch demo stopped", out
    assert [line for line in lines if " INFO " in line] == [], out
