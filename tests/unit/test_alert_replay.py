"""`gridwatch alert-replay` (contract section 5) and `gridwatch alert-report`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from app.cli import main
from detectors.anomaly_features import FloatArray
from evaluation.alert_report import score
from evaluation.skab_convert import run_skab_to_nab
from tests.support.tank_series import daily_tank_level

STEP_S = 300.0
T0 = 1_700_000_000.0


def write_series(path: Path, values: FloatArray, iso: bool = True) -> list[str]:
    from datetime import UTC, datetime

    stamps = [
        datetime.fromtimestamp(T0 + STEP_S * i, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        if iso else f"{T0 + STEP_S * i:.0f}"
        for i in range(len(values))
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["timestamp", "value"])
        out.writerows(zip(stamps, (f"{v:.6f}" for v in values), strict=True))
    return stamps


def daily(n: int, seed: int) -> FloatArray:
    return daily_tank_level(n, seed, STEP_S)


def episodes(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_episodes_in_the_input_s_own_time_format(tmp_path: Path) -> None:
    n = 1500
    quiet, fault, last = daily(n, 1), daily(n, 2), daily(n, 3)
    fault[1200:1215] += 2.0  # after learning: one alert, resolved after its hold
    last[-1] += 5.0  # on the last row: still firing when the file ends
    write_series(tmp_path / "in" / "quiet.csv", quiet)
    stamps = write_series(tmp_path / "in" / "site" / "fault.csv", fault)
    unix = write_series(tmp_path / "in" / "last.csv", last, iso=False)
    assert main(["alert-replay", str(tmp_path / "in"), str(tmp_path / "out")]) == 0
    assert episodes(tmp_path / "out" / "quiet.csv") == []
    [one] = episodes(tmp_path / "out" / "site" / "fault.csv")
    assert one["started_at"] in stamps[1200:1210]
    assert one["resolved_at"] in stamps[1201:]
    assert episodes(tmp_path / "out" / "last.csv") == [{"started_at": unix[-1], "resolved_at": ""}]


def test_the_fixed_level_rule_pages_during_learning_the_budgeted_one_does_not(
    tmp_path: Path,
) -> None:
    values = daily(400, 4)
    values[300:305] += 5.0  # before the default 500 rows of learning
    write_series(tmp_path / "in" / "early.csv", values)
    assert main(["alert-replay", str(tmp_path / "in"), str(tmp_path / "budget")]) == 0
    assert episodes(tmp_path / "budget" / "early.csv") == []
    args = ["alert-replay", str(tmp_path / "in"), str(tmp_path / "fixed"), "--fixed-level", "0.5"]
    assert main(args) == 0
    assert len(episodes(tmp_path / "fixed" / "early.csv")) == 1


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--detector", "nope"], "unknown detector 'nope'"),
        (["--fixed-level", "1.5"], "must be in (0, 1]"),
    ],
)
def test_bad_options_exit_2_and_say_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], words: str
) -> None:
    write_series(tmp_path / "in" / "a.csv", daily(10, 1))
    assert main(["alert-replay", str(tmp_path / "in"), str(tmp_path / "out"), *extra]) == 2
    assert words in capsys.readouterr().err


def test_bad_inputs_exit_2_and_name_the_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alert-replay", str(tmp_path / "absent"), str(tmp_path / "out")]) == 2
    assert "no such directory" in capsys.readouterr().err
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "back.csv").write_text("time,value\n1,2\n")
    assert main(["alert-replay", str(tmp_path / "in"), str(tmp_path / "out")]) == 2
    assert "no column timestamp" in capsys.readouterr().err


def test_rows_out_of_time_order_are_dropped_as_live_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A repeated time or one from the past (NAB has both) is dropped, as the backend
    drops it from a live device: the same episodes as without those rows."""
    values = daily(1500, 2)
    values[1200:1215] += 2.0
    stamps = write_series(tmp_path / "clean" / "a.csv", values, iso=False)
    rows = [f"{t},{v:.6f}" for t, v in zip(stamps, values, strict=True)]
    rows[700:700] = [f"{stamps[699]},9.0", f"{stamps[10]},-9.0"]  # a repeat, a late one
    (tmp_path / "messy").mkdir()
    (tmp_path / "messy" / "a.csv").write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    for name in ("clean", "messy"):
        assert main(["alert-replay", str(tmp_path / name), str(tmp_path / f"{name}-out")]) == 0
    assert "2 rows not after the one before: dropped, as live" in capsys.readouterr().err
    clean = episodes(tmp_path / "clean-out" / "a.csv")
    assert len(clean) == 1 and episodes(tmp_path / "messy-out" / "a.csv") == clean


def report_inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Three series of two days each: x/a and x/b share a window, y/c has its own."""
    data, eps = tmp_path / "data", tmp_path / "eps"
    for rel in ("x/a.csv", "x/b.csv", "y/c.csv"):
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_text("timestamp,value\n0,1\n86400,1\n172800,1\n")
        (eps / rel).parent.mkdir(parents=True, exist_ok=True)
    (eps / "x/a.csv").write_text("started_at,resolved_at\n1500,1800\n50000,\n")
    (eps / "x/b.csv").write_text("started_at,resolved_at\n900,1100\n1200,1300\n")
    (eps / "y/c.csv").write_text("started_at,resolved_at\n")
    windows = tmp_path / "windows.json"
    windows.write_text(json.dumps({"x/a.csv": [[1000, 2000]], "x/b.csv": [[1000, 2000]],
                                   "y/c.csv": [[5000, 6000]]}))
    return data, windows, eps


def test_report_counts_windows_events_false_alerts_and_delay(tmp_path: Path) -> None:
    data, windows, eps = report_inputs(tmp_path)
    r = score(data, windows, eps)
    assert (r.windows, r.windows_alerted, r.events, r.events_alerted) == (3, 2, 2, 1)
    # a's alert at 50000 and b's at 900 (before its window opened) are false alerts.
    assert (r.false_alerts, r.device_days) == (2, 6.0)
    assert r.false_alerts_per_device_day == pytest.approx(2 / 6, abs=1e-3)
    assert r.median_delay_s == 350.0  # a: 500 s, b: 200 s
    assert r.median_event_delay_s == 200.0  # the rig's first sensor to alert


def test_report_command_prints_and_refuses_missing_episodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, windows, eps = report_inputs(tmp_path)
    args = ["alert-report", "--data", str(data), "--windows", str(windows), "--episodes", str(eps)]
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["window_share"] == pytest.approx(2 / 3)
    (eps / "y/c.csv").unlink()
    assert main(args) == 2
    assert "c.csv: no episodes file (run gridwatch alert-replay first)" in capsys.readouterr().err


def test_report_refuses_a_windows_file_of_another_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, windows, eps = report_inputs(tmp_path)
    windows.write_text("[[1000, 2000]]")
    args = ["alert-report", "--data", str(data), "--windows", str(windows), "--episodes", str(eps)]
    assert main(args) == 2
    assert "not a windows file of {path: [[start, end], ...]}" in capsys.readouterr().err


def test_report_on_joined_runs_counts_each_run_s_window_once_and_the_same_time(
    tmp_path: Path,
) -> None:
    """The same two SKAB runs, converted one series per run and joined (skab-to-nab
    --join-runs), with the same alerts: the same windows, events and false alerts, and
    the same device time but for the second between the runs, per sensor."""
    skab = tmp_path / "skab" / "valve1"
    skab.mkdir(parents=True)
    for run, first in ((0, 0), (1, 11)):  # 10:00:00-10:00:09, then 10:00:11-10:00:20
        labels = [0, 0, 0, 0, 1, 1, 1, 0, 0, 0]
        (skab / f"{run}.csv").write_text("datetime;Pressure;Temperature;anomaly\n" + "".join(
            f"2020-03-09 10:00:{first + i:02d};{i};{20 + i};{label}\n"
            for i, label in enumerate(labels)
        ))
    alerts = {  # sensor -> alert starts: run 0's window by Pressure (and Temperature
        # later in it), run 1's by Temperature only; Pressure's 10:00:20 is outside
        "Pressure": ["10:00:04", "10:00:20"],
        "Temperature": ["10:00:06", "10:00:16"],
    }
    figures = []
    for joined in (False, True):
        out, eps = tmp_path / f"nab-{joined}", tmp_path / f"eps-{joined}"
        assert run_skab_to_nab(tmp_path / "skab", out, None, join=joined) == 0
        for sensor, starts in alerts.items():
            for t in starts:
                part = "" if joined else f"_{0 if t < '10:00:11' else 1}"
                path = eps / f"valve1{part}" / f"{sensor}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    path.write_text("started_at,resolved_at\n")
                with path.open("a") as f:
                    f.write(f"2020-03-09 {t},\n")
        for path in (out / "data").rglob("*.csv"):  # every series needs its file
            ep = eps / path.relative_to(out / "data")
            if not ep.exists():
                ep.parent.mkdir(parents=True, exist_ok=True)
                ep.write_text("started_at,resolved_at\n")
        figures.append(score(out / "data", out / "windows.json", eps))
    runs, whole = figures
    assert (runs.series, whole.series) == (4, 2)
    for r in (runs, whole):
        assert (r.windows, r.windows_alerted, r.events, r.events_alerted) == (4, 3, 2, 2)
        assert r.false_alerts == 1
        assert r.median_event_delay_s == 0.5  # run 0: Pressure at once, run 1: 1 s in
    # device time (device_days is rounded; the rate is 1 false alert over it): 4 x 9 s
    # apart; joined, also the 2 s from one run's last row to the next's first, per sensor
    assert runs.false_alerts_per_device_day == pytest.approx(86_400 / (4 * 9), abs=0.01)
    assert whole.false_alerts_per_device_day == pytest.approx(86_400 / (36 + 2 * 2), abs=0.01)
