"""`gridwatch demo`: the whole street on one machine, with scripted incidents.

An embedded broker (unless --mqtt), the backend, and a simulated edge agent per
residential area. A fire starts in Wenyuan No.1 soon after start, so a newcomer
sees a critical alert on that area's guard board within a minute.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from app.backend import Backend, BackendSettings
from app.demo_camera import camera_adapter
from app.server_run import listen_socket, run_server
from config.registry import Registry

if TYPE_CHECKING:
    from edge.adapters.base import Adapter
    from edge.agent import EdgeAgent

log = logging.getLogger("app.demo")

FIRE_AREA = "wy1"  # Wenyuan No.1: its 7 guard rooms make it the showcase area


@dataclass(frozen=True, slots=True)
class Incident:
    at_s: float
    scenario: str
    area: str | None  # None: an area other than the fire's, chosen from the registry


TIMELINE = (
    Incident(10, "fire", FIRE_AREA),
    Incident(20, "entrapment", None),
    Incident(30, "illegal_parking", None),
    Incident(40, "device_silent", None),
)
TIMELINE_ENTRAPMENT = 1  # its index: the area of an incident with no area is by index


def _area_path(registry: Registry, area_id: str) -> str:
    path = registry.find_area(area_id)
    if path is None:
        raise SystemExit(f"demo: the config has no residential area {area_id!r}")
    return path


def _agent_for(registry: Registry, area_path: str) -> str:
    for agent in registry.agents.values():
        if agent.area == area_path:
            return agent.id
    raise SystemExit(f"demo: no edge agent serves {area_path}")


def _other_area(registry: Registry, index: int) -> str:
    areas = sorted(a.area for a in registry.agents.values() if not a.area.endswith(FIRE_AREA))
    return areas[index % len(areas)]


def banner(port: int, mqtt: str, data_dir: Path, tokens: dict[str, str]) -> str:
    """What the demo prints once its pages answer: where to look, then the tokens last,
    in a box, so they are on screen when the newcomer reaches for them."""
    lines = [
        "gridwatch demo is running (Ctrl-C stops)",
        "",
        f"pages     http://127.0.0.1:{port}/ui/   (sign in with a token below)",
        f"API docs  http://127.0.0.1:{port}/docs",
        f"broker    {mqtt}",
        f"data      {data_dir}",
        "incidents fire in Wenyuan No.1 at +10 s, elevator entrapment at +20 s,",
        "          illegal parking at +30 s, a device going silent at +40 s",
        "camera    a road in Wenyuan No.1: each passing car a line crossing, with its snapshot",
        "",
        "tokens",
        *(f"  {name:<32} {tok}" for name, tok in tokens.items()),
    ]
    width = max(len(line) for line in lines)
    return "\n".join([
        "",
        "+" + "-" * (width + 2) + "+",
        *(f"| {line:<{width}} |" for line in lines),
        "+" + "-" * (width + 2) + "+",
        "",
    ])


def _print_when_up(server: uvicorn.Server, text: str, stop: threading.Event) -> None:
    # After the server's own start-up, so nothing it prints comes between.
    while not server.started and not stop.wait(0.05):
        pass
    if server.started:
        print(text, flush=True)


def _entrapment_unit(registry: Registry) -> str | None:
    """The maintenance unit of the elevators where the demo's entrapment happens, so the
    maintenance token sees a fault of its own devices."""
    area = _other_area(registry, TIMELINE_ENTRAPMENT)
    return next(
        (d.maintainer for d in registry.devices_in(area) if d.type == "elevator"),
        next((m.id for m in registry.maintainers.values() if m.kind == "elevator"), None),
    )


def _demo_tokens(backend: Backend, registry: Registry, fire_area: str) -> dict[str, str]:
    from api.tokens import create_token

    assert backend.ops is not None
    now = time.time()
    elevator_unit = _entrapment_unit(registry)
    wanted: list[tuple[str, str, str | None, str | None]] = [
        ("operations centre (ops)", "ops", None, None),
        (f"guard room {fire_area} (guard)", "guard", fire_area, None),
    ]
    if elevator_unit:
        wanted.append((f"maintenance {elevator_unit}", "maintenance", None, elevator_unit))
    out = {}
    for label, role, grid, maintainer in wanted:
        token, _ = create_token(backend.ops, registry, role, grid, maintainer, f"demo {label}",
                                None, now)
        out[label] = token
    return out


def run_demo(args: argparse.Namespace) -> int:
    from app.commands import load_registry_or_exit
    from app.embedded_broker import EmbeddedBroker
    from edge.agent import EdgeAgent

    sock = listen_socket("demo", "127.0.0.1", args.port)
    if isinstance(sock, str):  # busy: fail before anything starts or a token is printed
        print(sock, file=sys.stderr, flush=True)
        return 3
    if not args.verbose:
        # The demo's stages narrate at INFO (about 55 lines at start); a newcomer needs
        # warnings and the scripted incidents, printed below. -v brings the rest back.
        logging.getLogger().setLevel(logging.WARNING)
    registry = load_registry_or_exit(args.config)
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="gridwatch-demo-"))
    broker = None
    mqtt_url = args.mqtt
    if mqtt_url is None:
        broker = EmbeddedBroker()
        broker.start()
        mqtt_url = broker.url
    backend = Backend(registry, BackendSettings(mqtt_url=mqtt_url, data_dir=data_dir,
                                                port=args.port))
    backend.start()
    fire_area = _area_path(registry, FIRE_AREA)
    tokens = _demo_tokens(backend, registry, fire_area)
    server = backend.make_server()

    camera = camera_adapter(registry, fire_area)
    extra: dict[str, list[Adapter]] = {camera[0]: [camera[1]]} if camera else {}
    agents = {a: EdgeAgent(a, registry, mqtt_url, adapters=extra.get(a))
              for a in sorted(registry.agents)}
    if camera:  # its snapshots go out through that agent's publisher, as `gridwatch edge` does
        camera[1].snapshot_sink = agents[camera[0]].publisher.publish_snapshot
    for agent in agents.values():
        agent.start()
    stop = threading.Event()
    script = threading.Thread(
        target=_play_timeline, args=(registry, agents, stop), name="demo-script", daemon=True
    )
    script.start()
    if args.duration is not None:
        threading.Timer(args.duration, lambda: setattr(server, "should_exit", True)).start()
    threading.Thread(
        target=_print_when_up, args=(server, banner(args.port, mqtt_url, data_dir, tokens), stop),
        name="demo-banner", daemon=True,
    ).start()
    try:
        run_server(server, sock)  # returns after SIGINT/SIGTERM, so the cleanup below runs
    finally:
        stop.set()
        # The backend first: 27 agents saying goodbye are not 27 warnings to read.
        backend.stop()
        for agent in agents.values():
            agent.stop()
        if broker is not None:
            broker.stop()
    print("gridwatch demo stopped", flush=True)
    return 0


def _play_timeline(
    registry: Registry, agents: dict[str, EdgeAgent], stop: threading.Event
) -> None:
    start = time.monotonic()
    for i, incident in enumerate(TIMELINE):
        if stop.wait(max(0.0, start + incident.at_s - time.monotonic())):
            return
        area = _area_path(registry, incident.area) if incident.area else _other_area(registry, i)
        agent_id = _agent_for(registry, area)
        agent = agents[agent_id]
        try:
            what = agent.trigger(incident.scenario)
        except Exception as exc:
            log.warning("demo: %s in %s failed: %s", incident.scenario, area, exc)
            continue
        print(f"[demo +{incident.at_s:.0f}s] {incident.scenario} in {area}: {what}", flush=True)
