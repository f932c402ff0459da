"""`gridwatch alert-replay --rig`: each folder of series as one rig through the rig rule."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from app.cli import main
from detectors.anomaly_features import FloatArray
from evaluation.alert_report import score
from evaluation.skab_convert import run_skab_to_nab
from tests.unit.test_rig_rule import METRICS, rig_rows

T0 = 1_700_000_000


def write_rig(folder: Path, rows: FloatArray, times: list[int] | None = None) -> list[str]:
    stamps = [str(T0 + i) for i in (times if times is not None else range(len(rows)))]
    folder.mkdir(parents=True, exist_ok=True)
    for column, metric in enumerate(METRICS):
        with (folder / f"{metric}.csv").open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["timestamp", "value"])
            out.writerows(zip(stamps, (f"{v:.6f}" for v in rows[:, column]), strict=True))
    return stamps


def episodes(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_a_rig_s_alerts_go_to_its_first_file_once(tmp_path: Path) -> None:
    quiet, faulty = rig_rows(3000, seed=11), rig_rows(3000, seed=12)
    faulty[2000:2300, 2] -= 2.0
    write_rig(tmp_path / "in" / "quiet", quiet)
    stamps = write_rig(tmp_path / "in" / "faulty", faulty)
    assert main(["alert-replay", str(tmp_path / "in"), str(tmp_path / "out"), "--rig"]) == 0
    first = sorted(METRICS)[0]
    [one] = episodes(tmp_path / "out" / "faulty" / f"{first}.csv")
    assert one["started_at"] in stamps[2000:2120]
    assert one["resolved_at"] in stamps[2300:]
    for metric in METRICS:
        assert episodes(tmp_path / "out" / "quiet" / f"{metric}.csv") == []
        if metric != first:
            assert episodes(tmp_path / "out" / "faulty" / f"{metric}.csv") == []


def test_a_folder_of_one_series_is_no_rig_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_rig(tmp_path / "in" / "rig", rig_rows(100, seed=13))
    (tmp_path / "in" / "lonely").mkdir()
    (tmp_path / "in" / "lonely" / "flow.csv").write_text("timestamp,value\n1,2\n")
    assert main(["alert-replay", str(tmp_path / "in"), str(tmp_path / "out"), "--rig"]) == 2
    assert "lonely: a rig needs at least two series" in capsys.readouterr().err
    assert not (tmp_path / "out" / "lonely").exists()


def test_the_rig_replay_takes_no_single_metric_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_rig(tmp_path / "in" / "rig", rig_rows(100, seed=14))
    argv = ["alert-replay", str(tmp_path / "in"), str(tmp_path / "out"), "--rig"]
    assert main([*argv, "--fixed-level", "0.5"]) == 2
    assert "--detector and --fixed-level are for the single-metric rule" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_skab_valve1_rig_alerts_meet_the_issue_s_aim(shared_dir: Path, tmp_path: Path) -> None:
    """The shared SKAB valve1 runs, each its own rig (16 runs, one anomaly each): at least
    80 % of the anomalies alerted with at most one false alert per device-day. The rig
    model's parameters were chosen on these files: a guard against regressions, not
    evidence of how it does on unseen rigs."""
    assert run_skab_to_nab(shared_dir / "data" / "skab", tmp_path / "skab", ["valve1"]) == 0
    data = tmp_path / "skab" / "data"
    assert main(["alert-replay", str(data), str(tmp_path / "ep"), "--rig"]) == 0
    report = score(data, tmp_path / "skab" / "windows.json", tmp_path / "ep")
    assert report.events == 16
    assert report.event_share >= 0.8
    assert report.false_alerts_per_device_day <= 1.0


def test_skab_s_anomaly_free_run_raises_at_most_one_rig_alert(
    shared_dir: Path, tmp_path: Path
) -> None:
    """SKAB's anomaly-free run (2.6 hours of the same rig, its eight sensors as one rig,
    500 rows of learning): measured 1 alert; the rig's accelerometers later wander
    further than its first 500 rows show (README)."""
    source = shared_dir / "data" / "skab" / "anomaly-free" / "anomaly-free.csv"
    with source.open(newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    folder = tmp_path / "in" / "free"
    folder.mkdir(parents=True)
    for column, name in enumerate(rows[0][1:], start=1):
        with (folder / f"{name}.csv").open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["timestamp", "value"])
            out.writerows((r[0], r[column]) for r in rows[1:])
    assert main(["alert-replay", str(tmp_path / "in"), str(tmp_path / "out"), "--rig"]) == 0
    alerts = sum(len(episodes(p)) for p in (tmp_path / "out" / "free").glob("*.csv"))
    assert alerts <= 1


def test_a_fire_due_between_rows_is_written_at_the_first_row_after(tmp_path: Path) -> None:
    """The rule dates a fire when it became due (45 s after the condition began); the
    device fell silent then, so the episode starts at its next row, a time of the input."""
    rows = rig_rows(3000, seed=12)
    rows[2000:2300, 2] -= 2.0
    times = [i for i in range(3000) if not 2030 <= i < 2090]  # a minute without rows
    stamps = write_rig(tmp_path / "in" / "rig", rows[times], times)
    assert main(["alert-replay", str(tmp_path / "in"), str(tmp_path / "out"), "--rig"]) == 0
    [one] = episodes(tmp_path / "out" / "rig" / f"{sorted(METRICS)[0]}.csv")
    assert one["started_at"] == str(T0 + 2090)
    assert one["started_at"] in stamps
