"""The resolved routing tree: every option filled in, matched per alert.

Built from `config.models_routes.RouteSpec` (the YAML tree). As in Alertmanager, a
child inherits every option it does not set, a route's children are tried in order and
the first match wins unless it says `continue`, and a route none of whose children
match handles the alert itself. The root matches everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase

from config.models_routes import MatchSpec, RouteSpec
from config.registry import in_scope

DEFAULT_RECEIVERS = ("guard_room", "console", "property", "volunteers", "maintenance")
# A config without `routes:` still wakes the district and the operations centre for a
# critical alert, as a written tree would.
CRITICAL_ALSO = ("district", "operations")
DEFAULT_ESCALATE_S = 300.0
DEFAULT_RENOTIFY_S = 1800.0

Labels = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Matcher:
    types: tuple[str, ...] | None = None
    severities: frozenset[str] | None = None
    device_types: frozenset[str] | None = None
    grid: str | None = None
    buildings: frozenset[str] | None = None

    @classmethod
    def of(cls, spec: MatchSpec) -> Matcher:
        def fs(items: list[str] | None) -> frozenset[str] | None:
            return None if items is None else frozenset(items)

        return cls(
            types=None if spec.type is None else tuple(spec.type),
            severities=fs(list(spec.severity) if spec.severity else None),
            device_types=fs(list(spec.device_type) if spec.device_type else None),
            grid=spec.grid,
            buildings=fs(spec.building),
        )

    def matches(self, labels: Labels) -> bool:
        # Dispatcher._route caches matches keyed on exactly these five labels: a
        # matcher reading another label must be added to that key too.
        if self.types is not None and not any(fnmatchcase(labels["type"], t) for t in self.types):
            return False
        if self.severities is not None and labels["severity"] not in self.severities:
            return False
        if self.device_types is not None and labels["device_type"] not in self.device_types:
            return False
        if self.grid is not None and not in_scope(labels["grid"], self.grid):
            return False
        return self.buildings is None or labels["building"] in self.buildings


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    matcher: Matcher
    receivers: tuple[str, ...]
    group_by: tuple[str, ...]
    escalate_after_s: float
    renotify_after_s: float
    continue_: bool = False
    children: tuple[Route, ...] = field(default=())

    def match(self, labels: Labels) -> list[Route]:
        """The routes that handle `labels`: deepest matches first found, in order."""
        if not self.matcher.matches(labels):
            return []
        found: list[Route] = []
        for child in self.children:
            matched = child.match(labels)
            found.extend(matched)
            if matched and not child.continue_:
                break
        return found or [self]


def build_routes(spec: RouteSpec | None) -> Route:
    """The runtime tree of `spec`; with no spec, the built-in tree: the front line and the
    device's maintainer, and for a critical alert the district and operations too."""
    root = Route(
        name="root",
        matcher=Matcher(),
        receivers=DEFAULT_RECEIVERS,
        group_by=(),
        escalate_after_s=DEFAULT_ESCALATE_S,
        renotify_after_s=DEFAULT_RENOTIFY_S,
    )
    if spec is not None:
        return _resolve(spec, root, "root")
    critical = replace(root, name="root.critical", receivers=DEFAULT_RECEIVERS + CRITICAL_ALSO,
                       matcher=Matcher(severities=frozenset({"critical"})))
    return replace(root, children=(critical,))


def _resolve(spec: RouteSpec, parent: Route, name: str) -> Route:
    base = Route(
        name=spec.name or name,
        matcher=Matcher.of(spec.match),
        receivers=tuple(spec.receivers) if spec.receivers is not None else parent.receivers,
        group_by=tuple(spec.group_by) if spec.group_by is not None else parent.group_by,
        escalate_after_s=spec.escalate_after_s or parent.escalate_after_s,
        renotify_after_s=spec.renotify_after_s or parent.renotify_after_s,
        continue_=spec.continue_,
    )
    children = tuple(
        _resolve(child, base, f"{base.name}.{i}") for i, child in enumerate(spec.routes)
    )
    return replace(base, children=children)
