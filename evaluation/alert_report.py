"""`gridwatch alert-report --data DATA --windows WINDOWS.json --episodes EPISODES [--json]`.

Scores the alert episodes of `gridwatch alert-replay` against NAB-style labelled
windows (WINDOWS.json: {"<relative path>": [[start, end], ...]}, as NAB's and
`skab-to-nab`'s), the way a guard room would judge the alerts:

- windows alerted: the share of windows with an alert *starting* inside (start and end
  included); an alert already firing when a window opens does not count;
- false alerts per device-day: alerts starting outside every window of their series,
  over the series' total time span (each file is one device; a day is 86,400 s);
- delay: the median time from a window's start to the first alert starting inside it.

The same window of several series in one folder (every sensor of one SKAB run shares
its run's windows) is also counted once as an *event*, alerted when any of the
folder's series alerted inside it: one rig, one anomaly, seen by some sensor. With
`skab-to-nab --join-runs` a folder is a whole experiment: its sensors share every run's
windows, and each window is still one event; the device-days are the same as for the
runs apart, but for the seconds between one run's last row and the next one's first.

DATA is the replay's IN_DIR (for the time spans); every series named in WINDOWS.json
must have its episodes file. Times are parsed as ISO 8601 (naive: UTC) or Unix seconds.
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from evaluation.nab_runner import InputError, load_series, parse_time

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class AlertReport:
    series: int
    device_days: float
    windows: int
    windows_alerted: int
    events: int
    events_alerted: int
    false_alerts: int
    false_alerts_per_device_day: float
    median_delay_s: float | None  # over alerted windows
    median_event_delay_s: float | None  # over alerted events: the first sensor's alert

    @property
    def window_share(self) -> float:
        return self.windows_alerted / self.windows if self.windows else 0.0

    @property
    def event_share(self) -> float:
        return self.events_alerted / self.events if self.events else 0.0


def read_episodes(path: Path) -> list[float]:
    """Start times of the alert episodes in one file."""
    if not path.is_file():
        raise InputError(f"{path}: no episodes file (run gridwatch alert-replay first)")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    starts = []
    for i, row in enumerate(rows):
        try:
            starts.append(parse_time(row["started_at"]))
        except (KeyError, ValueError, TypeError):
            raise InputError(f"{path}:{i + 2}: no readable started_at in {row}") from None
    return starts


def read_windows(path: Path) -> dict[str, list[tuple[float, float]]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {
            rel: [(parse_time(str(a)), parse_time(str(b))) for a, b in spans]
            for rel, spans in raw.items()
        }
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise InputError(
            f"{path}: not a windows file of {{path: [[start, end], ...]}} ({exc})"
        ) from None


def score(data: Path, windows_file: Path, episodes: Path) -> AlertReport:
    windows = read_windows(windows_file)
    if not windows:
        raise InputError(f"{windows_file}: names no series")
    span_s = 0.0
    false_alerts = alerted = n_windows = 0
    delays: list[float] = []
    # (folder, start, end) -> earliest alert start inside, by any series of the folder
    events: dict[tuple[str, float, float], list[float]] = defaultdict(list)
    for rel, spans in sorted(windows.items()):
        series = load_series(data / rel, Path(rel))
        if len(series.ts):
            span_s += float(series.ts[-1] - series.ts[0])
        starts = read_episodes(episodes / rel)
        folder = str(Path(rel).parent)
        inside = [any(a <= t <= b for a, b in spans) for t in starts]
        false_alerts += inside.count(False)
        for a, b in spans:
            hits = [t for t in starts if a <= t <= b]
            n_windows += 1
            events[(folder, a, b)] += hits[:1]
            if hits:
                alerted += 1
                delays.append(hits[0] - a)
    event_delays = [min(h) - key[1] for key, h in events.items() if h]
    days = span_s / DAY_S
    return AlertReport(
        series=len(windows), device_days=round(days, 4), windows=n_windows,
        windows_alerted=alerted, events=len(events), events_alerted=len(event_delays),
        false_alerts=false_alerts,
        false_alerts_per_device_day=round(false_alerts / days, 3) if days > 0 else 0.0,
        median_delay_s=statistics.median(delays) if delays else None,
        median_event_delay_s=statistics.median(event_delays) if event_delays else None,
    )


def render(report: AlertReport) -> str:
    def delay(s: float | None) -> str:
        return "-" if s is None else f"{s:.0f} s"

    return "\n".join([
        f"series: {report.series} ({report.device_days:.3f} device-days)",
        f"windows alerted: {report.windows_alerted}/{report.windows} "
        f"({100 * report.window_share:.1f} %), median delay {delay(report.median_delay_s)}",
        f"events alerted (a folder's shared window, any series): {report.events_alerted}/"
        f"{report.events} ({100 * report.event_share:.1f} %), median delay "
        f"{delay(report.median_event_delay_s)}",
        f"false alerts: {report.false_alerts} "
        f"({report.false_alerts_per_device_day:.2f} per device-day)",
    ])


def run_alert_report(data: Path, windows: Path, episodes: Path, as_json: bool) -> int:
    try:
        report = score(data, windows, episodes)
    except (InputError, OSError) as exc:
        print(f"alert-report: {exc}", file=sys.stderr)
        return 2
    if as_json:
        print(
            json.dumps(
                asdict(report)
                | {"window_share": report.window_share, "event_share": report.event_share},
                indent=2,
            )
        )
    else:
        print(render(report))
    return 0
