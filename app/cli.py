"""The `gridwatch` command (contract section 1). Each subcommand parses its flags and
hands over to the module that does the work; nothing here knows how."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from gridwatch.data_dir import default_data_dir

DEFAULT_MQTT = "mqtt://127.0.0.1:1883"
CONFIG_HELP = "config file or folder (default: $GRIDWATCH_CONFIG, else the sample street)"
MQTT_HELP = ("broker URL, mqtt://[user:pass@]host:port or mqtts://... "
             f"(default: $GRIDWATCH_MQTT_URL, else {DEFAULT_MQTT})")


def _env(name: str, fallback: str | None = None) -> str | None:
    return os.environ.get(name) or fallback


def _add_common(p: argparse.ArgumentParser, *, data_dir: bool = True) -> None:
    p.add_argument("--config", default=_env("GRIDWATCH_CONFIG"), help=CONFIG_HELP)
    if data_dir:
        p.add_argument("--data-dir", type=Path,
                       default=Path(_env("GRIDWATCH_DATA_DIR") or default_data_dir()),
                       help="where the embedded stores and tokens live")


def _add_ops(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ops", default=_env("GRIDWATCH_OPS_URL", "embedded"),
                   help="op store: embedded (SQLite under the data dir) or "
                        "postgresql://USER:PASSWORD@HOST:PORT/DB, shared by replicas")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridwatch", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="the whole system on one machine, with scripted incidents")
    demo.add_argument("--port", type=int, default=8000, help="HTTP port of the pages and API")
    demo.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    demo.add_argument("--data-dir", type=Path, default=None,
                      help="keep state here (default: a new temporary folder)")
    demo.add_argument("--mqtt", default=None, help="use this broker instead of the embedded one")
    demo.add_argument("--config", default=_env("GRIDWATCH_CONFIG"), help=CONFIG_HELP)

    serve = sub.add_parser("serve", help="the backend: ingest, detectors, dispatch, API")
    _add_common(serve)
    serve.add_argument("--mqtt", default=_env("GRIDWATCH_MQTT_URL", DEFAULT_MQTT), help=MQTT_HELP)
    serve.add_argument("--store", default=_env("GRIDWATCH_STORE_URL", "embedded"),
                       help="time series: 'embedded' (DuckDB in --data-dir) or "
                            "influx+http://HOST:PORT/ORG/BUCKET (default: $GRIDWATCH_STORE_URL, "
                            "else embedded)")
    _add_ops(serve)
    serve.add_argument("--client-id", default="gridwatch-ingest",
                       help="MQTT client id of ingest (its persistent session); give each "
                            "replica its own")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port of the pages and API")

    edge = sub.add_parser("edge", help="one edge agent")
    edge.add_argument("--agent", required=True, help="agent id from the registry, e.g. wy1-edge")
    _add_common(edge)  # --data-dir: the agent's on-disk outbox lives under it
    edge.add_argument("--mqtt", default=_env("GRIDWATCH_MQTT_URL", DEFAULT_MQTT), help=MQTT_HELP)
    edge.add_argument("--adapters", type=Path, default=None,
                      help="YAML: device adapters and outbox caps (default: simulators)")

    check = sub.add_parser("check-config", help="validate a configuration")
    check.add_argument("path", help="config file or folder to check")

    token = sub.add_parser("token", help="create, list and revoke API tokens")
    tsub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = tsub.add_parser("create", help="print a new token (stored hashed)")
    create.add_argument("--role", required=True, choices=["ops", "guard", "maintenance", "admin"],
                        help="what the token may see and do")
    create.add_argument("--grid", default=None, help="grid path (required for guard)")
    create.add_argument("--maintainer", default=None, help="unit id (required for maintenance)")
    create.add_argument("--name", default=None, help="who or what holds it, shown by list")
    create.add_argument("--expires", default=None, help="e.g. 30d, 12h (default: never)")
    tsub.add_parser("list", help="list tokens")
    revoke = tsub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", help="the token's id, as `token list` shows it")
    for p in tsub.choices.values():
        _add_common(p)
        _add_ops(p)

    scores = sub.add_parser("anomaly-scores", help="offline anomaly scores for CSV series")
    scores.add_argument("in_dir", help="folder of CSV series (timestamp,value), NAB layout")
    scores.add_argument("out_dir", help="where the scored CSVs go, same layout")
    scores.add_argument("--detector", default=None,
                        help="robust-knn (default), robust-knn-step or gaussian")
    replay = sub.add_parser("alert-replay", help="alert episodes of the anomaly rule on CSV series")
    replay.add_argument("in_dir", help="folder of CSV series (timestamp,value), one device each")
    replay.add_argument("out_dir", help="where the episode CSVs (started_at,resolved_at) go")
    replay.add_argument("--detector", default=None,
                        help="robust-knn (default), robust-knn-step or gaussian")
    replay.add_argument("--fixed-level", type=float, default=None,
                        help="no budget: fire at this score from the start (the old rule)")
    replay.add_argument("--rig", action="store_true",
                        help="each folder's CSVs are one rig (one device, a metric per file) "
                        "through the rig rule (rules.rig_anomalies)")
    report = sub.add_parser("alert-report", help="score alert episodes against labelled windows")
    report.add_argument("--data", required=True, help="the series alert-replay read")
    report.add_argument("--windows", required=True, help="windows.json (NAB layout)")
    report.add_argument("--episodes", required=True, help="alert-replay's OUT_DIR")
    report.add_argument("--json", action="store_true", help="print the figures as JSON")
    skab = sub.add_parser("skab-to-nab", help="convert the SKAB benchmark to the NAB layout")
    skab.add_argument("skab_dir",
                      help="SKAB data folder: one subfolder of ;-separated CSVs per experiment")
    skab.add_argument("out_dir", help="where the NAB-layout series and windows.json go")
    skab.add_argument("--experiments", default=None,
                      help="comma-separated experiment folders (default: every labelled one)")
    skab.add_argument("--join-runs", action="store_true",
                      help="one series per sensor per experiment, its run files joined in "
                           "natural order (they must follow each other in time)")
    masks = sub.add_parser("motion-masks", help="motion masks for frames or a video")
    masks.add_argument("in_dir", help="a folder of frames (e.g. CDnet's input/) or a video file")
    masks.add_argument("out_dir", help="where one PNG mask per frame goes")
    masks.add_argument("--width", type=int, default=None,
                       help="analysis width: frames are halved while at least this wide, "
                            "0 analyses them whole (default: the agent's, 320)")

    acl = sub.add_parser(
        "mqtt-acl", help="write Mosquitto password and ACL files for the registry's agents"
    )
    acl.add_argument("--out", required=True, help="folder for the generated files")
    acl.add_argument("--config", default=_env("GRIDWATCH_CONFIG"), help=CONFIG_HELP)

    bench = sub.add_parser("bench", help="run the benchmarks")
    bench.add_argument("--only", default=None, help="run only benchmarks whose name has this")
    bench.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    bench.add_argument("--ops", default=None,
                       help="also on PostgreSQL: 'postgresql' (a private cluster, needs the "
                            "server binaries) or postgresql://... (scratch schemas there)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Third-party libraries (amqtt's state machines above all) narrate every step at
    # INFO; gridwatch's own INFO lines are what an operator reads.
    for noisy in ("amqtt", "transitions", "uvicorn.error", "httpx"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    from app import commands

    handler = getattr(commands, "cmd_" + args.command.replace("-", "_"))
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
