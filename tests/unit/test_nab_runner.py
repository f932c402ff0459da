"""`gridwatch anomaly-scores`: the contract's output format and clear input errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from detectors.anomaly_registry import DETECTORS
from evaluation.nab_runner import run_anomaly_scores


def write_series(path: Path, values: list[str], header: str = "timestamp,value") -> list[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    stamps = [f"2024-01-01 00:{i // 60:02d}:{i % 60:02d}" for i in range(len(values))]
    lines = [header] + [f"{t},{v}" for t, v in zip(stamps, values, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return stamps


def values(n: int, seed: int) -> list[str]:
    return [f"{v:.4f}" for v in np.random.default_rng(seed).normal(5, 1, n)]


def test_every_csv_is_scored_at_the_same_relative_path(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    inputs = {
        Path("a/one.csv"): values(300, 1),
        Path("a/b/two.csv"): values(220, 2),
        Path("three.csv"): [*values(5, 3), ""],  # an empty cell is a missing reading
    }
    stamps = {rel: write_series(src / rel, vals) for rel, vals in inputs.items()}
    (src / "notes.txt").write_text("not a series")

    assert run_anomaly_scores(src, out, None) == 0

    written = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert written == sorted(inputs)
    for rel, vals in inputs.items():
        with (out / rel).open(newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["timestamp", "value", "anomaly_score"]
        assert [r[0] for r in rows[1:]] == stamps[rel]
        assert [r[1] for r in rows[1:]] == vals
        scores = np.array([float(r[2]) for r in rows[1:]])
        assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()


def test_missing_columns_are_an_error_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_series(tmp_path / "in" / "bad.csv", values(3, 4), header="time,reading")
    assert run_anomaly_scores(tmp_path / "in", tmp_path / "out", None) == 2
    err = capsys.readouterr().err
    assert "bad.csv:1" in err and "timestamp" in err and "value" in err


def test_a_non_numeric_value_is_an_error_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_series(tmp_path / "in" / "x.csv", ["1.0", "2.0", "hot", "3.0"])
    assert run_anomaly_scores(tmp_path / "in", tmp_path / "out", None) == 2
    assert "x.csv:4: not a number: 'hot'" in capsys.readouterr().err


def test_missing_in_dir_and_unknown_detector_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_anomaly_scores(tmp_path / "nope", tmp_path / "out", None) == 2
    assert "no such directory" in capsys.readouterr().err
    write_series(tmp_path / "in" / "s.csv", values(3, 5))
    assert run_anomaly_scores(tmp_path / "in", tmp_path / "out", "magic") == 2
    err = capsys.readouterr().err
    assert all(name in err for name in DETECTORS)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_registered_detector_runs(tmp_path: Path, name: str) -> None:
    write_series(tmp_path / "in" / "s.csv", values(200, 6))
    assert run_anomaly_scores(tmp_path / "in", tmp_path / "out", name) == 0
    assert (tmp_path / "out" / "s.csv").exists()


def test_runner_scores_do_not_change_when_later_rows_are_appended(tmp_path: Path) -> None:
    full = values(400, 7)
    write_series(tmp_path / "full" / "s.csv", full)
    write_series(tmp_path / "prefix" / "s.csv", full[:250])
    for name in ("full", "prefix"):
        assert run_anomaly_scores(tmp_path / name, tmp_path / f"out-{name}", None) == 0
    scores = {
        name: [r[2] for r in csv.reader((tmp_path / f"out-{name}" / "s.csv").open())][1:]
        for name in ("full", "prefix")
    }
    assert scores["full"][:250] == scores["prefix"]
