"""`gridwatch skab-to-nab`: NAB layout, windows from label runs, timestamps, input errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from app.cli import main
from evaluation.skab_convert import label_windows, run_skab_to_nab

HEADER = "datetime;Pressure;Temperature;anomaly;changepoint"


def stamp(i: int) -> str:
    return f"2020-03-09 10:{i // 60:02d}:{i % 60:02d}"


def write_skab(path: Path, labels: list[int], header: str = HEADER, start: int = 0) -> list[str]:
    """A SKAB-style file: row i at second start + i, Pressure = i, Temperature = 100 + i."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamps = [stamp(start + i) for i in range(len(labels))]
    cols = header.split(";")
    lines = [header]
    for i, label in enumerate(labels):
        cell = {
            "datetime": stamps[i],
            "Pressure": f"{i}.5",
            "Temperature": f"{100 + i}",
            "anomaly": f"{label}.0",
            "changepoint": "0.0",
        }
        lines.append(";".join(cell[c] for c in cols))
    path.write_text("\n".join(lines) + "\n")
    return stamps


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def windows_of(out: Path) -> dict[str, list[list[str]]]:
    result: dict[str, list[list[str]]] = json.loads((out / "windows.json").read_text())
    return result


def test_layout_series_and_windows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    skab, out = tmp_path / "skab", tmp_path / "out"
    stamps = write_skab(skab / "valve1" / "0.csv", [1, 1, 0, 0, 1, 1, 1, 0, 0, 1])
    write_skab(skab / "valve1" / "1.csv", [0, 0, 0, 0])
    write_skab(skab / "other" / "3.csv", [0, 1, 0])

    assert run_skab_to_nab(skab, out, None) == 0

    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [
        "data/other_3/Pressure.csv",
        "data/other_3/Temperature.csv",
        "data/valve1_0/Pressure.csv",
        "data/valve1_0/Temperature.csv",
        "data/valve1_1/Pressure.csv",
        "data/valve1_1/Temperature.csv",
        "windows.json",
    ]
    rows = read_rows(out / "data/valve1_0/Pressure.csv")
    assert rows[0] == ["timestamp", "value"]
    assert rows[1:] == [[s, f"{i}.5"] for i, s in enumerate(stamps)]
    temps = read_rows(out / "data/valve1_0/Temperature.csv")
    assert [r[1] for r in temps[1:]] == [str(100 + i) for i in range(10)]

    windows = windows_of(out)
    # a run at the very start, one in the middle, one of a single row at the very end
    expected = [[stamps[0], stamps[1]], [stamps[4], stamps[6]], [stamps[9], stamps[9]]]
    assert windows["valve1_0/Pressure.csv"] == expected
    assert windows["valve1_0/Temperature.csv"] == expected
    assert windows["valve1_1/Pressure.csv"] == []  # no anomaly rows: an empty list
    assert windows["other_3/Temperature.csv"] == [[stamp(1), stamp(1)]]
    assert len(windows) == 6

    captured = capsys.readouterr()
    assert captured.out.strip() == f"skab-to-nab: 3 files, 6 series, 8 windows -> {out}"
    assert "1/3 files" in captured.err and "3/3 files" in captured.err


def test_label_windows_runs() -> None:
    ts = [stamp(i) for i in range(6)]
    assert label_windows(ts, [False] * 6) == []
    assert label_windows(ts, [True] * 6) == [[ts[0], ts[5]]]
    assert label_windows(ts, [True, False, False, False, False, True]) == [
        [ts[0], ts[0]],
        [ts[5], ts[5]],
    ]
    assert label_windows(ts, [False, True, True, False, True, False]) == [
        [ts[1], ts[2]],
        [ts[4], ts[4]],
    ]


def test_column_order_and_sensor_names_follow_the_header(tmp_path: Path) -> None:
    skab, out = tmp_path / "skab", tmp_path / "out"
    header = "anomaly;Temperature;changepoint;datetime;Pressure"
    stamps = write_skab(skab / "e" / "0.csv", [0, 1, 0], header=header)

    assert run_skab_to_nab(skab, out, None) == 0

    assert read_rows(out / "data/e_0/Pressure.csv")[1:] == [
        [s, f"{i}.5"] for i, s in enumerate(stamps)
    ]
    assert read_rows(out / "data/e_0/Temperature.csv")[1:] == [
        [s, str(100 + i)] for i, s in enumerate(stamps)
    ]
    assert sorted(windows_of(out)) == ["e_0/Pressure.csv", "e_0/Temperature.csv"]
    assert not (out / "data/e_0/changepoint.csv").exists()


def test_sensor_name_with_spaces_is_kept(tmp_path: Path) -> None:
    skab, out = tmp_path / "skab", tmp_path / "out"
    f = skab / "e" / "0.csv"
    f.parent.mkdir(parents=True)
    f.write_text(
        "datetime;Volume Flow RateRMS;anomaly;changepoint\n"
        "2020-03-09 10:00:00;32.0;0.0;0.0\n"
        "2020-03-09 10:00:01;31.5;1.0;1.0\n"
    )
    assert run_skab_to_nab(skab, out, None) == 0
    assert read_rows(out / "data/e_0/Volume Flow RateRMS.csv")[1:] == [
        ["2020-03-09 10:00:00", "32.0"],
        ["2020-03-09 10:00:01", "31.5"],
    ]
    assert windows_of(out)["e_0/Volume Flow RateRMS.csv"] == [
        ["2020-03-09 10:00:01", "2020-03-09 10:00:01"]
    ]


def test_sub_second_and_duplicate_timestamps_fold_into_one_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skab, out = tmp_path / "skab", tmp_path / "out"
    f = skab / "e" / "0.csv"
    f.parent.mkdir(parents=True)
    f.write_text(
        "datetime;Pressure;anomaly\n"
        "2020-03-09 10:00:00.250;1;0\n"
        "2020-03-09 10:00:00.750;2;0\n"  # same second: folded into the row above
        "2020-03-09T10:00:01;3;0\n"
        "2020-03-09 10:00:01;4;1\n"  # duplicate: its label 1 marks the kept row
        "2020-03-09 10:00:03;5;0\n"  # a 2 s gap is kept
    )
    assert run_skab_to_nab(skab, out, None) == 0
    assert read_rows(out / "data/e_0/Pressure.csv")[1:] == [
        ["2020-03-09 10:00:00", "1"],
        ["2020-03-09 10:00:01", "3"],
        ["2020-03-09 10:00:03", "5"],
    ]
    assert windows_of(out)["e_0/Pressure.csv"] == [["2020-03-09 10:00:01", "2020-03-09 10:00:01"]]
    assert "2 rows merged" in capsys.readouterr().err


def test_unlabelled_folder_is_skipped_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skab, out = tmp_path / "skab", tmp_path / "out"
    write_skab(skab / "valve1" / "0.csv", [0, 1])
    free = skab / "anomaly-free" / "anomaly-free.csv"
    free.parent.mkdir(parents=True)
    free.write_text("datetime;Pressure\n2020-03-09 10:00:00;1\n")
    (skab / "empty").mkdir()

    assert run_skab_to_nab(skab, out, None) == 0
    assert sorted(p.name for p in (out / "data").iterdir()) == ["valve1_0"]
    assert "skipping anomaly-free/" in capsys.readouterr().err


def test_experiments_filter_and_natural_file_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skab, out = tmp_path / "skab", tmp_path / "out"
    for stem in ("10", "2", "1"):
        write_skab(skab / "valve1" / f"{stem}.csv", [0, 1])
    write_skab(skab / "valve2" / "0.csv", [0, 1])

    assert run_skab_to_nab(skab, out, ["valve1"]) == 0
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        "valve1_1",
        "valve1_10",
        "valve1_2",
    ]
    err = capsys.readouterr().err
    assert err.index("valve1/1.csv") < err.index("valve1/2.csv") < err.index("valve1/10.csv")


def test_cli_runs_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    skab, out = tmp_path / "skab", tmp_path / "out"
    write_skab(skab / "valve1" / "0.csv", [0, 1])
    write_skab(skab / "valve2" / "0.csv", [0, 1])
    assert main(["skab-to-nab", str(skab), str(out), "--experiments", "valve2, "]) == 0
    assert list(windows_of(out)) == ["valve2_0/Pressure.csv", "valve2_0/Temperature.csv"]
    assert main(["skab-to-nab", str(skab), str(tmp_path / "o2"), "--experiments", ","]) == 2
    assert "no experiment named" in capsys.readouterr().err


def test_rerun_replaces_an_earlier_output(tmp_path: Path) -> None:
    skab, out = tmp_path / "skab", tmp_path / "out"
    write_skab(skab / "a" / "0.csv", [0, 1])
    assert run_skab_to_nab(skab, out, None) == 0
    (skab / "a" / "0.csv").rename(skab / "a" / "5.csv")
    assert run_skab_to_nab(skab, out, None) == 0
    assert sorted(p.name for p in (out / "data").iterdir()) == ["a_5"]
    assert list(windows_of(out)) == ["a_5/Pressure.csv", "a_5/Temperature.csv"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def bad_file(tmp_path: Path, body: str) -> Path:
    skab = tmp_path / "skab"
    write_skab(skab / "a" / "0.csv", [0, 1, 1])  # a good file, converted before the bad one
    f = skab / "a" / "1.csv"
    f.write_text(body)
    return f


ERRORS = {
    "no_anomaly_column": (
        "datetime;Pressure\n2020-03-09 10:00:00;1\n",
        ":1: no column anomaly",
    ),
    "no_datetime_column": (
        "time;Pressure;anomaly\n2020-03-09 10:00:00;1;0\n",
        ":1: no column datetime",
    ),
    "comma_separated": (
        "datetime,Pressure,anomaly\n2020-03-09 10:00:00,1,0\n",
        ":1: no column datetime or anomaly",
    ),
    "not_a_number": (
        "datetime;Pressure;anomaly\n2020-03-09 10:00:00;1;0\n2020-03-09 10:00:01;abc;0\n",
        ":3: column 'Pressure': not a number: 'abc'",
    ),
    "infinite": (
        "datetime;Pressure;anomaly\n2020-03-09 10:00:00;inf;0\n",
        ":2: column 'Pressure': not a number: 'inf'",
    ),
    "bad_label": (
        "datetime;Pressure;anomaly\n2020-03-09 10:00:00;1;0\n\n2020-03-09 10:00:01;1;2\n",
        ":4: column 'anomaly': expected 0 or 1, got '2'",
    ),
    "bad_timestamp": (
        "datetime;Pressure;anomaly\n09/03/2020 10:00;1;0\n",
        ":2: not an ISO timestamp: '09/03/2020 10:00'",
    ),
    "time_goes_back": (
        "datetime;Pressure;anomaly\n2020-03-09 10:00:05;1;0\n2020-03-09 10:00:04;1;0\n",
        ":3: timestamp '2020-03-09 10:00:04' is earlier than the row before it",
    ),
    "short_row": (
        "datetime;Pressure;anomaly\n2020-03-09 10:00:00;1\n",
        ":2: 2 cells for 3 columns",
    ),
    "no_rows": ("datetime;Pressure;anomaly\n", ":2: no data rows"),
    "bad_sensor_name": (
        "datetime;a/b;anomaly\n2020-03-09 10:00:00;1;0\n",
        ":1: sensor column 'a/b' cannot name a file",
    ),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_input_errors_exit_2_naming_file_and_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    body, message = ERRORS[case]
    bad = bad_file(tmp_path, body)
    out = tmp_path / "out"

    assert run_skab_to_nab(tmp_path / "skab", out, None) == 2

    err = capsys.readouterr().err
    assert f"{bad}{message}" in err
    assert not out.exists()  # not even the good file converted before the bad one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["skab"]  # no temp folder left


def test_failed_rerun_keeps_the_earlier_output(tmp_path: Path) -> None:
    skab, out = tmp_path / "skab", tmp_path / "out"
    write_skab(skab / "a" / "0.csv", [0, 1])
    assert run_skab_to_nab(skab, out, None) == 0
    before = (out / "windows.json").read_text()
    (skab / "a" / "1.csv").write_text("datetime;Pressure;anomaly\n2020-03-09 10:00:00;x;0\n")

    assert run_skab_to_nab(skab, out, None) == 2
    assert (out / "windows.json").read_text() == before
    assert sorted(p.name for p in (out / "data").iterdir()) == ["a_0"]


def test_missing_dir_and_unknown_experiment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert run_skab_to_nab(tmp_path / "nope", out, None) == 2
    assert f"{tmp_path / 'nope'}: no such directory" in capsys.readouterr().err

    skab = tmp_path / "skab"
    write_skab(skab / "valve1" / "0.csv", [0, 1])
    assert run_skab_to_nab(skab, out, ["valve9"]) == 2
    assert "valve9: no such experiment folder (found: valve1)" in capsys.readouterr().err

    free = skab / "anomaly-free" / "anomaly-free.csv"
    free.parent.mkdir()
    free.write_text("datetime;Pressure\n2020-03-09 10:00:00;1\n")
    assert run_skab_to_nab(skab, out, ["anomaly-free"]) == 2  # named: an error, not a skip
    assert f"{free}:1: no column anomaly" in capsys.readouterr().err

    (skab / "valve1" / "0.csv").unlink()
    assert run_skab_to_nab(skab, out, None) == 2
    assert "no experiment folder with a labelled CSV" in capsys.readouterr().err
    assert not out.exists()


def test_refuses_to_replace_a_folder_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skab, out = tmp_path / "skab", tmp_path / "out"
    write_skab(skab / "a" / "0.csv", [0, 1])
    out.mkdir()
    (out / "notes.txt").write_text("keep me")

    assert run_skab_to_nab(skab, out, None) == 2
    assert "refusing to replace it" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_join_runs_one_series_per_sensor_per_experiment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skab, out = tmp_path / "skab", tmp_path / "out"
    # natural order 0, 2, 10 (not 0, 10, 2), each run a second or two after the last;
    # run 2 has its columns in another order, run 10 a window on its first row
    r0 = write_skab(skab / "valve1" / "0.csv", [0, 1, 1, 0])
    r2 = write_skab(
        skab / "valve1" / "2.csv",
        [0, 0, 1],
        start=5,
        header="anomaly;Temperature;datetime;Pressure",
    )
    r10 = write_skab(skab / "valve1" / "10.csv", [1, 0, 0, 1, 1], start=9)
    r_other = write_skab(skab / "other" / "0.csv", [0, 1], start=100)

    assert run_skab_to_nab(skab, out, None, join=True) == 0

    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [
        "data/other/Pressure.csv",
        "data/other/Temperature.csv",
        "data/valve1/Pressure.csv",
        "data/valve1/Temperature.csv",
        "windows.json",
    ]
    stamps = r0 + r2 + r10
    assert read_rows(out / "data/valve1/Pressure.csv") == [["timestamp", "value"]] + [
        [s, f"{i}.5"] for run in (r0, r2, r10) for i, s in enumerate(run)
    ]
    assert [r[0] for r in read_rows(out / "data/valve1/Temperature.csv")[1:]] == stamps
    assert [r[1] for r in read_rows(out / "data/valve1/Temperature.csv")[1:]] == [
        str(100 + i) for run in (r0, r2, r10) for i in range(len(run))
    ]
    expected = [  # every run's windows, in time order; run 2's and 10's not merged
        [r0[1], r0[2]],
        [r2[2], r2[2]],
        [r10[0], r10[0]],
        [r10[3], r10[4]],
    ]
    windows = windows_of(out)
    assert windows["valve1/Pressure.csv"] == expected
    assert windows["valve1/Temperature.csv"] == expected
    assert windows["other/Pressure.csv"] == [[r_other[1], r_other[1]]]

    captured = capsys.readouterr()
    assert captured.out.strip() == f"skab-to-nab: 4 files, 4 series, 10 windows -> {out}"
    err = captured.err
    assert err.index("valve1/0.csv") < err.index("valve1/2.csv") < err.index("valve1/10.csv")
    assert (
        f"valve1/ joined: 3 files -> valve1/ (2 series, 12 rows, 4 windows, {r0[0]} to {r10[-1]})"
    ) in err


def test_join_runs_is_an_option_default_is_one_series_per_file(tmp_path: Path) -> None:
    skab = tmp_path / "skab"
    write_skab(skab / "valve1" / "0.csv", [0, 1])
    write_skab(skab / "valve1" / "1.csv", [1, 0], start=2)
    assert main(["skab-to-nab", str(skab), str(tmp_path / "runs")]) == 0
    assert sorted(windows_of(tmp_path / "runs")) == [
        "valve1_0/Pressure.csv",
        "valve1_0/Temperature.csv",
        "valve1_1/Pressure.csv",
        "valve1_1/Temperature.csv",
    ]
    joined = tmp_path / "joined"
    assert main(["skab-to-nab", str(skab), str(joined), "--join-runs"]) == 0
    assert windows_of(joined)["valve1/Pressure.csv"] == [[stamp(1), stamp(1)], [stamp(2), stamp(2)]]
    assert len(read_rows(joined / "data/valve1/Pressure.csv")) == 1 + 4


JOIN_ERRORS = {
    # the second file (natural order) starts on the first one's last second
    "same_second": (
        "datetime;Pressure;Temperature;anomaly\n2020-03-09 10:00:04;1;2;0\n",
        ":2: first timestamp 2020-03-09 10:00:04 is not after the last one of 0.csv "
        "(2020-03-09 10:00:04)",
    ),
    # it starts before the first one ended (a blank line first: the line is the row's)
    "earlier": (
        "datetime;Pressure;Temperature;anomaly\n\n2020-03-09 10:00:02;1;2;0\n"
        "2020-03-09 10:00:09;1;2;0\n",
        ":3: first timestamp 2020-03-09 10:00:02 is not after the last one of 0.csv "
        "(2020-03-09 10:00:04)",
    ),
    # sub-second: 10:00:04.5 is written as 10:00:04, the first file's last second
    "same_second_after_truncation": (
        "datetime;Pressure;Temperature;anomaly\n2020-03-09 10:00:04.500;1;2;0\n",
        ":2: first timestamp 2020-03-09 10:00:04 is not after the last one of 0.csv",
    ),
    "other_sensors": (
        "datetime;Pressure;Current;anomaly\n2020-03-09 10:00:09;1;2;0\n",
        ":1: sensor columns ['Pressure', 'Current'] differ from 0.csv's "
        "['Pressure', 'Temperature']; --join-runs needs the same sensors in every file",
    ),
}


@pytest.mark.parametrize("case", sorted(JOIN_ERRORS))
def test_join_runs_refuses_files_that_do_not_follow_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    body, message = JOIN_ERRORS[case]
    skab, out = tmp_path / "skab", tmp_path / "out"
    write_skab(skab / "a" / "0.csv", [0, 1, 1, 0, 0])  # 10:00:00 to 10:00:04
    bad = skab / "a" / "1.csv"
    bad.write_text(body)

    assert main(["skab-to-nab", str(skab), str(out), "--join-runs"]) == 2

    err = capsys.readouterr().err
    assert f"{bad}{message}" in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["skab"]  # no temp folder left
    # the same files, one series per file, convert: the check is --join-runs' own
    assert run_skab_to_nab(skab, out, None) == 0


def test_join_runs_natural_order_decides_what_must_follow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """10.csv comes after 2.csv, so it must start after 2.csv ends (in name order, 10
    before 2, these files would follow each other)."""
    skab, out = tmp_path / "skab", tmp_path / "out"
    write_skab(skab / "v" / "2.csv", [0, 1], start=10)
    write_skab(skab / "v" / "10.csv", [0, 1], start=0)
    assert run_skab_to_nab(skab, out, None, join=True) == 2
    assert (
        f"{skab / 'v' / '10.csv'}:2: first timestamp {stamp(0)} is not after the last one "
        f"of 2.csv ({stamp(11)})"
    ) in capsys.readouterr().err
