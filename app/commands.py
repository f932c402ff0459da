"""What each `gridwatch` subcommand does, given its parsed arguments."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

from config.registry import Registry

log = logging.getLogger("gridwatch")


def load_registry_or_exit(path: str | None) -> Registry:
    from config.loader import DEFAULT_CONFIG_DIR, ConfigError, load_registry

    try:
        return load_registry(path or DEFAULT_CONFIG_DIR)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def cmd_check_config(args: argparse.Namespace) -> int:
    from app.check_config import run_check_config

    return run_check_config(args.path)


def cmd_serve(args: argparse.Namespace) -> int:
    from app.backend import Backend, BackendSettings
    from app.server_run import listen_socket, run_server

    registry = load_registry_or_exit(args.config)
    sock = listen_socket("serve", args.host, args.port)
    if isinstance(sock, str):
        print(sock, file=sys.stderr)
        return 3
    try:
        backend = Backend(
            registry,
            BackendSettings(
                mqtt_url=args.mqtt,
                data_dir=Path(args.data_dir),
                store_url=args.store,
                ops_url=args.ops,
                ingest_client_id=args.client_id,
                host=args.host,
                port=args.port,
                bootstrap_token=os.environ.get("GRIDWATCH_BOOTSTRAP_TOKEN") or None,
            ),
        )
    except ValueError as exc:
        print(f"gridwatch serve: {exc}", file=sys.stderr)
        sock.close()
        return 2
    try:
        backend.start()
    except ConnectionError as exc:  # the op store is unreachable
        print(f"gridwatch serve: {exc}", file=sys.stderr)
        backend.stop()
        sock.close()
        return 2
    server = backend.make_server()
    print(f"gridwatch serving http://{args.host}:{args.port}/ (data in {args.data_dir}, "
          f"broker {backend.mqtt.display})", flush=True)
    try:
        run_server(server, sock)  # returns after SIGINT/SIGTERM, so the stop below runs
    finally:
        backend.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import run_demo

    return run_demo(args)


def cmd_edge(args: argparse.Namespace) -> int:
    from app.edge_run import run_agent

    registry = load_registry_or_exit(args.config)
    if args.agent not in registry.agents:
        known = ", ".join(sorted(registry.agents)[:10])
        print(f"gridwatch edge: unknown agent {args.agent!r} (known: {known}, ...)",
              file=sys.stderr)
        return 2
    try:
        run_agent(args.agent, args.config, args.mqtt, args.data_dir, args.adapters)
    except ValueError as exc:  # the adapters YAML (pydantic's errors are ValueErrors too)
        print(f"gridwatch edge: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from app import token_commands as tokens
    from store.factory import open_ops

    registry = load_registry_or_exit(args.config)
    try:
        ops = open_ops(Path(args.data_dir), args.ops)
    except (ValueError, ConnectionError) as exc:
        print(f"gridwatch token: {exc}", file=sys.stderr)
        return 2
    try:
        if args.token_command == "create":
            return tokens.cmd_token_create(
                ops, registry, args.role, args.grid, args.maintainer, args.name, args.expires
            )
        if args.token_command == "list":
            return tokens.cmd_token_list(ops)
        return tokens.cmd_token_revoke(ops, args.id)
    finally:
        ops.close()


def _feature(command: str, module: str, function: str) -> Callable[..., int] | None:
    """The function behind a command whose stage may not be built yet; None (after
    saying so) when its module is absent."""
    try:
        return cast(Callable[..., int], getattr(importlib.import_module(module), function))
    except ModuleNotFoundError as exc:
        if not module.startswith(str(exc.name)):
            raise
        print(f"gridwatch {command}: not built yet ({module} is missing)", file=sys.stderr)
        return None


def cmd_anomaly_scores(args: argparse.Namespace) -> int:
    run = _feature("anomaly-scores", "evaluation.nab_runner", "run_anomaly_scores")
    return 2 if run is None else run(Path(args.in_dir), Path(args.out_dir), args.detector)


def cmd_alert_replay(args: argparse.Namespace) -> int:
    if args.rig:
        if args.detector is not None or args.fixed_level is not None:
            print("alert-replay --rig: --detector and --fixed-level are for the single-metric "
                  "rule; the rig rule has one model and learns its level", file=sys.stderr)
            return 2
        run_rig = _feature("alert-replay", "evaluation.rig_replay", "run_rig_replay")
        return 2 if run_rig is None else run_rig(Path(args.in_dir), Path(args.out_dir))
    run = _feature("alert-replay", "evaluation.alert_replay", "run_alert_replay")
    if run is None:
        return 2
    return run(Path(args.in_dir), Path(args.out_dir), args.detector, args.fixed_level)


def cmd_alert_report(args: argparse.Namespace) -> int:
    run = _feature("alert-report", "evaluation.alert_report", "run_alert_report")
    if run is None:
        return 2
    return run(Path(args.data), Path(args.windows), Path(args.episodes), args.json)


def cmd_skab_to_nab(args: argparse.Namespace) -> int:
    run = _feature("skab-to-nab", "evaluation.skab_convert", "run_skab_to_nab")
    wanted = None if args.experiments is None else [
        e.strip() for e in args.experiments.split(",") if e.strip()
    ]
    return 2 if run is None else run(
        Path(args.skab_dir), Path(args.out_dir), wanted, args.join_runs
    )


def cmd_motion_masks(args: argparse.Namespace) -> int:
    run = _feature("motion-masks", "evaluation.motion_runner", "run_motion_masks")
    width = {} if args.width is None else {"width": args.width}
    return 2 if run is None else run(Path(args.in_dir), Path(args.out_dir), **width)


def cmd_mqtt_acl(args: argparse.Namespace) -> int:
    run = _feature("mqtt-acl", "app.mqtt_acl", "run_mqtt_acl")
    return 2 if run is None else run(load_registry_or_exit(args.config), Path(args.out))


def cmd_bench(args: argparse.Namespace) -> int:
    from bench.runner import run_benchmarks

    return run_benchmarks(args.only, quick=args.quick, ops=args.ops)

