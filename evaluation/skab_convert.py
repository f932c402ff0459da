"""`gridwatch skab-to-nab SKAB_DIR OUT_DIR [--experiments valve1,...] [--join-runs]`.

Converts the Skoltech Anomaly Benchmark (SKAB, waico/SKAB, GPL-3.0) into the layout of
the Numenta Anomaly Benchmark, so `gridwatch anomaly-scores` and the shared NAB scorer
can score it:

- input: SKAB_DIR/<experiment>/*.csv, `;`-separated, with a `datetime` column, an
  `anomaly` column (0/1), an optional `changepoint` column (ignored) and sensor columns
  (every other column, in header order);
- OUT_DIR/data/<experiment>_<file stem>/<sensor>.csv: `timestamp,value`, one series per
  sensor per file (sensor values copied verbatim; an empty cell stays empty, which the
  runner reads as a missing reading);
- OUT_DIR/windows.json: {"<experiment>_<stem>/<sensor>.csv": [[start, end], ...]}, one
  window per maximal run of consecutive anomaly==1 rows, from the run's first written
  timestamp to its last (inclusive, as NAB windows are); every sensor of a file gets
  that file's windows, and a file without anomaly rows gets [] for each sensor.

`--join-runs` writes one series per sensor per *experiment* instead:
OUT_DIR/data/<experiment>/<sensor>.csv holds the experiment's files one after another in
natural order (0, 1, 2, ..., 10, not 0, 1, 10), and windows.json gives it every file's
windows, each file's computed on its own (a window ending on a file's last row and one
starting on the next file's first row stay two). SKAB's runs of one experiment are
consecutive recordings of one rig (valve1: 16 files of about 20 minutes, 10:14:33 to
15:34:41 on one day, each starting a second or two after the one before ends), so the
joined series is the sensor as it ran, as a deployed device runs: never reset. Every file
of the experiment must have the same sensor columns (in any order), and each file's first
timestamp must be after the previous file's last one (after the timestamp rule below):
otherwise it is an input error, as time going backwards inside a file is. The gap
between two files is kept as it is, like any gap.

Timestamp rule. NAB needs unique, increasing timestamps and the scorer matches rows by
their first 19 characters, so each `datetime` cell is parsed as ISO 8601 (an offset, if
any, is converted to UTC) and written as `YYYY-MM-DD HH:MM:SS`: a sub-second part is
truncated. Consecutive rows that land on the same second (a duplicate timestamp, or
sub-second rows) are merged into the first of them: its sensor values are kept and the
merged row is anomalous if any of them is, so no labelled row is lost; every merged row
is still checked, and the count is reported on stderr. A timestamp earlier than the row
before it is an input error. Gaps are kept as they are (SKAB valve1 is 1 Hz with a few
2 s steps and one gap of about a minute in some files; it has no duplicates and no
sub-second parts).

Experiments: by default every subfolder of SKAB_DIR holding a CSV with an `anomaly`
column; folders without one (SKAB's `anomaly-free/`) are skipped with a note.
`--experiments` names the folders to convert, and a CSV without the columns is then an
error.

Errors the user must fix (missing folder, a CSV without `datetime`/`anomaly`, a cell
that is not a number, a label other than 0/1, time going backwards) exit 2 with
`file:line: message`. Output is built in a hidden temporary folder next to OUT_DIR and
renamed into place only when every file converted, so a failed run leaves OUT_DIR as it
was (absent, or the previous conversion). An existing OUT_DIR is replaced only if it
holds nothing but `data/` and `windows.json`. Progress goes to stderr, the one-line
summary to stdout.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SEPARATOR = ";"
TIME_COLUMN = "datetime"
LABEL_COLUMN = "anomaly"
IGNORED_COLUMNS = frozenset({TIME_COLUMN, LABEL_COLUMN, "changepoint"})
OUTPUT_ENTRIES = frozenset({"data", "windows.json"})
TS_FORMAT = "%Y-%m-%d %H:%M:%S"


class InputError(Exception):
    """A problem with the input that the user must fix; the message names the place."""


@dataclass(frozen=True, slots=True)
class SkabFile:
    sensors: list[str]
    timestamps: list[str]  # as written: whole seconds, unique, increasing
    values: list[list[str]]  # per sensor, one cell per written row
    anomaly: list[bool]
    merged: int  # rows folded into the row before them (same second)
    first_line: int  # the line of the first data row, for errors that name it


def natural_key(name: str) -> tuple[tuple[int, str], ...]:
    """`2` before `10`: digit runs compare as numbers."""
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"(\d+)", name))


def parse_timestamp(text: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{where}: not an ISO timestamp: {text!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def check_number(text: str, where: str, column: str) -> str:
    """The cell, stripped; empty is a missing reading, anything else must be finite."""
    cell = text.strip()
    if not cell:
        return cell
    try:
        ok = math.isfinite(float(cell))
    except ValueError:
        ok = False
    if not ok:
        raise InputError(f"{where}: column {column!r}: not a number: {text!r}")
    return cell


def parse_label(text: str, where: str) -> bool:
    try:
        label = float(text)
    except ValueError:
        label = math.nan
    if label not in (0.0, 1.0):
        raise InputError(f"{where}: column {LABEL_COLUMN!r}: expected 0 or 1, got {text!r}")
    return label == 1.0


def read_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return [h.strip() for h in next(csv.reader(f, delimiter=SEPARATOR), [])]


def check_header(path: Path, header: list[str]) -> list[str]:
    """The sensor columns, after checking the required ones and the names."""
    missing = [c for c in (TIME_COLUMN, LABEL_COLUMN) if c not in header]
    if missing:
        raise InputError(
            f"{path}:1: no column {' or '.join(missing)} in header {header} "
            f"(expected a {SEPARATOR!r}-separated SKAB file)"
        )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputError(f"{path}:1: column {name!r} appears twice")
        seen.add(name)
    sensors = [h for h in header if h not in IGNORED_COLUMNS]
    for name in sensors:
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise InputError(f"{path}:1: sensor column {name!r} cannot name a file")
    if not sensors:
        raise InputError(f"{path}:1: no sensor columns in header {header}")
    return sensors


def read_skab_file(path: Path) -> SkabFile:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=SEPARATOR)
        header = [h.strip() for h in next(reader, [])]
        sensors = check_header(path, header)
        t_col, a_col = header.index(TIME_COLUMN), header.index(LABEL_COLUMN)
        s_cols = [header.index(s) for s in sensors]
        timestamps: list[str] = []
        values: list[list[str]] = [[] for _ in sensors]
        anomaly: list[bool] = []
        merged = 0
        first_line = 0
        last: datetime | None = None
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            first_line = first_line or reader.line_num
            where = f"{path}:{reader.line_num}"
            if len(row) != len(header):
                raise InputError(f"{where}: {len(row)} cells for {len(header)} columns")
            moment = parse_timestamp(row[t_col], where)
            cells = [check_number(row[c], where, header[c]) for c in s_cols]
            label = parse_label(row[a_col], where)
            if last is not None and moment < last:
                raise InputError(
                    f"{where}: timestamp {row[t_col].strip()!r} is earlier than the row "
                    f"before it ({last.strftime(TS_FORMAT)})"
                )
            if moment == last:  # same whole second: fold into the row before
                anomaly[-1] = anomaly[-1] or label
                merged += 1
                continue
            last = moment
            timestamps.append(moment.strftime(TS_FORMAT))
            for column, cell in zip(values, cells, strict=True):
                column.append(cell)
            anomaly.append(label)
    if not timestamps:
        raise InputError(f"{path}:2: no data rows")
    return SkabFile(sensors, timestamps, values, anomaly, merged, first_line)


def label_windows(timestamps: list[str], anomaly: list[bool]) -> list[list[str]]:
    """One [first, last] timestamp pair per maximal run of anomalous rows."""
    windows: list[list[str]] = []
    start: int | None = None
    for i, flag in enumerate([*anomaly, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            windows.append([timestamps[start], timestamps[i - 1]])
            start = None
    return windows


def find_experiments(skab_dir: Path, wanted: list[str] | None) -> list[tuple[str, list[Path]]]:
    if not skab_dir.is_dir():
        raise InputError(f"{skab_dir}: no such directory")
    folders = {p.name: p for p in skab_dir.iterdir() if p.is_dir()}

    def csvs(folder: Path) -> list[Path]:
        found = [p for p in folder.glob("*.csv") if p.is_file()]
        return sorted(found, key=lambda p: natural_key(p.stem))

    if wanted is not None:
        if not wanted:
            raise InputError("--experiments: no experiment named")
        chosen: list[tuple[str, list[Path]]] = []
        for name in wanted:
            if name not in folders:
                known = ", ".join(sorted(folders, key=natural_key)) or "none"
                raise InputError(f"{skab_dir / name}: no such experiment folder (found: {known})")
            files = csvs(folders[name])
            if not files:
                raise InputError(f"{folders[name]}: no CSV files")
            chosen.append((name, files))
        return chosen
    chosen = []
    for name in sorted(folders, key=natural_key):
        files = csvs(folders[name])
        if not files:
            continue
        if not any(LABEL_COLUMN in read_header(p) for p in files):
            print(
                f"skab-to-nab: skipping {name}/: no CSV with an {LABEL_COLUMN!r} column "
                "(unlabelled)",
                file=sys.stderr,
            )
            continue
        chosen.append((name, files))
    if not chosen:
        raise InputError(f"{skab_dir}: no experiment folder with a labelled CSV")
    return chosen


def write_series(path: Path, timestamps: list[str], values: list[str]) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["timestamp", "value"])
        out.writerows(zip(timestamps, values, strict=True))


def join_runs(files: list[tuple[Path, SkabFile]]) -> SkabFile:
    """One experiment's files as one series per sensor, after checking that they fit:
    the same sensors, and each file starting after the one before it ended."""
    (first_path, first), *rest = files
    sensors = first.sensors
    timestamps = list(first.timestamps)
    values = [list(column) for column in first.values]
    anomaly = list(first.anomaly)
    merged = first.merged
    prev_path = first_path
    for path, skab in rest:
        if sorted(skab.sensors) != sorted(sensors):
            raise InputError(
                f"{path}:1: sensor columns {skab.sensors} differ from {first_path.name}'s "
                f"{sensors}; --join-runs needs the same sensors in every file"
            )
        if skab.timestamps[0] <= timestamps[-1]:  # same fixed format: text order is time
            raise InputError(
                f"{path}:{skab.first_line}: first timestamp {skab.timestamps[0]} is not "
                f"after the last one of {prev_path.name} ({timestamps[-1]}); --join-runs "
                "needs the files to follow each other in time in natural order"
            )
        timestamps += skab.timestamps
        by_name = dict(zip(skab.sensors, skab.values, strict=True))
        for sensor, column in zip(sensors, values, strict=True):
            column += by_name[sensor]
        anomaly += skab.anomaly
        merged += skab.merged
        prev_path = path
    return SkabFile(sensors, timestamps, values, anomaly, merged, first.first_line)


def write_group(
    build: Path,
    group: str,
    skab: SkabFile,
    group_windows: list[list[str]],
    windows: dict[str, list[list[str]]],
    where: Path,
) -> None:
    folder = build / "data" / group
    if folder.exists():
        raise InputError(f"{where}: output folder {group}/ is already taken")
    folder.mkdir(parents=True)
    for sensor, column in zip(skab.sensors, skab.values, strict=True):
        write_series(folder / f"{sensor}.csv", skab.timestamps, column)
        windows[f"{group}/{sensor}.csv"] = [list(w) for w in group_windows]


def convert(
    experiments: list[tuple[str, list[Path]]], build: Path, joined: bool = False
) -> tuple[int, int, int]:
    """Writes data/ and windows.json under `build`; (files, series, windows).
    `joined`: one series per sensor per experiment, its files one after another."""
    windows: dict[str, list[list[str]]] = {}
    total = sum(len(files) for _, files in experiments)
    done = series = n_windows = 0
    for experiment, files in experiments:
        read: list[tuple[Path, SkabFile]] = []
        run_windows: list[list[str]] = []
        for path in files:
            skab = read_skab_file(path)
            file_windows = label_windows(skab.timestamps, skab.anomaly)
            done += 1
            note = f", {skab.merged} rows merged into the second before" if skab.merged else ""
            counts = f"{len(skab.timestamps)} rows, {len(file_windows)} windows{note}"
            if joined:
                read.append((path, skab))
                run_windows += file_windows
                target = f"joining into {experiment}/ ({counts})"
            else:
                group = f"{experiment}_{path.stem}"
                write_group(build, group, skab, file_windows, windows, path)
                series += len(skab.sensors)
                n_windows += len(file_windows) * len(skab.sensors)
                target = f"{group}/ ({len(skab.sensors)} series, {counts})"
            print(
                f"skab-to-nab: {done}/{total} files: {experiment}/{path.name} -> {target}",
                file=sys.stderr,
            )
        if joined:
            skab = join_runs(read)
            write_group(build, experiment, skab, run_windows, windows, files[0].parent)
            series += len(skab.sensors)
            n_windows += len(run_windows) * len(skab.sensors)
            print(
                f"skab-to-nab: {experiment}/ joined: {len(files)} files -> {experiment}/ "
                f"({len(skab.sensors)} series, {len(skab.timestamps)} rows, "
                f"{len(run_windows)} windows, {skab.timestamps[0]} to {skab.timestamps[-1]})",
                file=sys.stderr,
            )
    with (build / "windows.json").open("w") as f:
        json.dump(dict(sorted(windows.items())), f, indent=4)
        f.write("\n")
    return done, series, n_windows


def check_out_dir(out_dir: Path) -> None:
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if out_dir.is_symlink() or not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    extra = sorted(p.name for p in out_dir.iterdir() if p.name not in OUTPUT_ENTRIES)
    if extra:
        raise InputError(
            f"{out_dir}: not empty and not an earlier skab-to-nab output "
            f"(has {', '.join(extra[:5])}); refusing to replace it"
        )


def run_skab_to_nab(
    skab_dir: Path, out_dir: Path, experiments: list[str] | None, join: bool = False
) -> int:
    try:
        chosen = find_experiments(skab_dir, experiments)
        check_out_dir(out_dir)
    except InputError as exc:
        print(f"skab-to-nab: {exc}", file=sys.stderr)
        return 2
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        try:
            files, series, n_windows = convert(chosen, build, join)
        except InputError as exc:
            print(f"skab-to-nab: {exc} (nothing written to {out_dir})", file=sys.stderr)
            return 2
        old = build.with_name(build.name + ".old")
        if out_dir.exists():
            os.rename(out_dir, old)  # then the new one takes its place in one rename
        os.rename(build, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(build, ignore_errors=True)  # only still there after a failure
    print(f"skab-to-nab: {files} files, {series} series, {n_windows} windows -> {out_dir}")
    return 0
