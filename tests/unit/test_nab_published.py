"""Published NAB results to the shared scorer's layout."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from evaluation.nab_published import main


def nab_checkout(root: Path) -> Path:
    result = root / "results" / "htm" / "realX" / "htm_a.csv"
    result.parent.mkdir(parents=True)
    result.write_text("timestamp,value,anomaly_score,label\n2020-01-01 00:00:00,5,0.25,0\n"
                      "2020-01-01 00:05:00,6,0.75,1\n")
    return root


def test_scores_of_the_named_series_are_written_for_the_scorer(tmp_path: Path) -> None:
    nab = nab_checkout(tmp_path / "nab")
    windows = tmp_path / "windows.json"
    windows.write_text(json.dumps({"realX/a.csv": []}))
    out = tmp_path / "out"
    assert main([str(nab), "htm", str(windows), str(out)]) == 0
    with (out / "realX" / "a.csv").open(newline="") as f:
        assert list(csv.reader(f)) == [
            ["timestamp", "anomaly_score"],
            ["2020-01-01 00:00:00", "0.25"],
            ["2020-01-01 00:05:00", "0.75"],
        ]


def test_a_series_without_a_published_result_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nab = nab_checkout(tmp_path / "nab")
    windows = tmp_path / "windows.json"
    windows.write_text(json.dumps({"realX/a.csv": [], "realX/b.csv": []}))
    assert main([str(nab), "htm", str(windows), str(tmp_path / "out")]) == 2
    assert "htm_b.csv: no published result for realX/b.csv" in capsys.readouterr().err


def test_wrong_arguments_print_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["only-one"]) == 2
    assert "NAB_CHECKOUT DETECTOR WINDOWS.json OUT_DIR" in capsys.readouterr().err
