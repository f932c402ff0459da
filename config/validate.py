"""Cross-reference checks that need the whole configuration: ids, grids, references.

The pydantic models check each item on its own; only here is it known whether a
device's agent exists or its micro-grid lies in that agent's area. Like Alertmanager, a
reference error is rejected at load time rather than discovered when an alert is routed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from config.errors import ConfigProblem, Loc, Locator, problem_at
from config.models import DeviceSpec, GridNodeSpec, StreetConfig, ThresholdRuleSpec
from config.registry import in_scope
from config.validate_routes import check_routes
from config.validate_rules import check_rule_library

LEVEL_NAMES = ("street", "district", "area", "micro-grid")
MAX_LEVELS = len(LEVEL_NAMES)
OVERRIDABLE = ("fire_at", "clear_at", "min_duration_s")


def check_references(
    config: StreetConfig,
    locator: Locator,
    dropped_ids: Mapping[str, set[str]] | None = None,
) -> list[ConfigProblem]:
    """Every cross-reference problem of `config`. Ids in `dropped_ids` (per section) belong
    to items already reported as malformed, so references to them are not errors."""
    return _Checker(config, locator, dropped_ids or {}).run()


def _a_level(level: int) -> str:
    """'a district', 'an area', ...: the kind of node at `level` (1 is the street)."""
    name = LEVEL_NAMES[level - 1] if level <= MAX_LEVELS else f"level-{level} node"
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def hysteresis_problem(direction: str, fire_at: float, clear_at: float) -> str | None:
    """Why `clear_at` is on the wrong side of `fire_at`, or None when it is not."""
    if direction == "above" and clear_at > fire_at:
        return f"clear_at {clear_at:g} must be <= fire_at {fire_at:g} for direction 'above'"
    if direction == "below" and clear_at < fire_at:
        return f"clear_at {clear_at:g} must be >= fire_at {fire_at:g} for direction 'below'"
    return None


class _Checker:
    def __init__(
        self, config: StreetConfig, locator: Locator, dropped: Mapping[str, set[str]]
    ) -> None:
        self.config = config
        self.locator = locator
        self.dropped = dropped
        self.problems: list[ConfigProblem] = []
        self.grids: dict[str, int] = {}  # grid path -> level, 1 for the street
        self.device_types = {d.id: d.type for d in config.devices}
        self.devices_by_id = {d.id: d for d in config.devices}

    def report(self, loc: Loc, message: str) -> None:
        self.problems.append(problem_at(self.locator, loc, message))

    def run(self) -> list[ConfigProblem]:
        cfg = self.config
        self._walk_grid(cfg.street, None, ("street",), level=1)
        agents = self._unique(("agents",), [a.id for a in cfg.agents], "agent id")
        maintainers = self._unique(
            ("maintainers",), [m.id for m in cfg.maintainers], "maintainer id"
        )
        devices = self._unique(("devices",), [d.id for d in cfg.devices], "device id")
        self._unique(("receivers",), [r.id for r in cfg.receivers], "receiver id")
        self._unique(("tokens",), [t.id for t in cfg.tokens], "token id")
        self._unique(("rules", "thresholds"), [r.id for r in cfg.rules.thresholds], "rule id")
        self._unique(
            ("rules", "events"),
            [r.event_type for r in cfg.rules.events],
            "event rule for",
            key="event_type",
        )
        self._check_agents()
        self._check_devices(agents, maintainers)
        self._check_receivers(maintainers)
        self._check_tokens(maintainers)
        check_routes(cfg, set(self.grids), self.report)
        for index, rule in enumerate(cfg.rules.thresholds):
            self._check_threshold(("rules", "thresholds", index), rule, devices)
        check_rule_library(cfg, self.report)
        return self.problems

    def _walk_grid(self, node: GridNodeSpec, parent: str | None, loc: Loc, level: int) -> None:
        path = node.id if parent is None else f"{parent}/{node.id}"
        self.grids[path] = level
        if node.children and level >= MAX_LEVELS:
            self.report(
                (*loc, "children"),
                f"grid '{path}' has children, but the grid tree has at most {MAX_LEVELS} "
                f"levels ({' / '.join(LEVEL_NAMES)})",
            )
            return
        ids = [child.id for child in node.children]
        self._unique((*loc, "children"), ids, f"grid id under '{path}':")
        seen: set[str] = set()
        for index, child in enumerate(node.children):
            if child.id not in seen:  # a duplicate's subtree would only repeat the report
                seen.add(child.id)
                self._walk_grid(child, path, (*loc, "children", index), level + 1)

    def _unique(self, section: Loc, ids: Sequence[str], what: str, key: str = "id") -> set[str]:
        """Report repeated ids; return the known ids, including those of dropped items."""
        first: dict[str, int] = {}
        for index, item_id in enumerate(ids):
            if item_id in first:
                file, line = self.locator.position((*section, first[item_id], key))
                self.report(
                    (*section, index, key), f"duplicate {what} '{item_id}' (first at {file}:{line})"
                )
            else:
                first[item_id] = index
        return set(first) | set(self.dropped.get(str(section[-1]), set()))

    def _grid_ok(self, loc: Loc, who: str, path: str, level: int | None = None) -> bool:
        actual = self.grids.get(path)
        if actual is None:
            self.report(loc, f"{who}: unknown grid '{path}'")
            return False
        if level is not None and actual != level:
            self.report(
                loc,
                f"{who}: grid '{path}' is {_a_level(actual)}, "
                f"not {_a_level(level)} (level {level}) path",
            )
            return False
        return True

    def _known(self, loc: Loc, who: str, what: str, value: str, known: set[str]) -> bool:
        if value in known:
            return True
        self.report(loc, f"{who}: unknown {what} '{value}'")
        return False

    def _check_agents(self) -> None:
        for index, agent in enumerate(self.config.agents):
            self._grid_ok(("agents", index, "area"), f"agent '{agent.id}'", agent.area, level=3)

    def _check_devices(self, agents: set[str], maintainers: set[str]) -> None:
        areas = {a.id: a.area for a in self.config.agents if self.grids.get(a.area) == 3}
        for index, device in enumerate(self.config.devices):
            loc: Loc = ("devices", index)
            who = f"device '{device.id}'"
            agent_ok = self._known((*loc, "agent"), who, "agent", device.agent, agents)
            grid_ok = self._grid_ok((*loc, "grid"), who, device.grid, level=MAX_LEVELS)
            self._known((*loc, "maintainer"), who, "maintainer", device.maintainer, maintainers)
            area = areas.get(device.agent)
            if agent_ok and grid_ok and area is not None and not in_scope(device.grid, area):
                self.report(
                    (*loc, "grid"),
                    f"{who}: grid '{device.grid}' is outside the area '{area}' "
                    f"of its agent '{device.agent}'",
                )
            self._check_points(loc, who, device)

    def _check_points(self, loc: Loc, who: str, panel: DeviceSpec) -> None:
        """A point table belongs to a fire panel; each (loop, point) once; a point names
        a registered detector of the same area, or says its building and floor."""
        if panel.points and panel.type != "fire_panel":
            self.report((*loc, "points"), f"{who}: only a fire_panel has points, not a "
                        f"{panel.type}")
            return
        seen: dict[tuple[int, int], int] = {}
        area = "/".join(panel.grid.split("/")[:3])
        for index, p in enumerate(panel.points):
            where: Loc = (*loc, "points", index)
            name = f"{who}: point loop {p.loop} point {p.point}"
            if (p.loop, p.point) in seen:
                first = seen[p.loop, p.point]
                self.report(where, f"{name} is listed twice (first as item {first})")
                continue
            seen[p.loop, p.point] = index
            if p.device is None:
                if p.building is None or p.floor is None:
                    self.report(where, f"{name}: give the detector's device id, or its building "
                                f"and floor")
                continue
            detector = self.devices_by_id.get(p.device)
            if detector is None:
                self.report((*where, "device"), f"{name}: unknown device '{p.device}'")
            elif not in_scope(detector.grid, area):
                self.report((*where, "device"), f"{name}: device '{p.device}' is in "
                            f"'{detector.grid}', outside the panel's area '{area}'")

    def _check_receivers(self, maintainers: set[str]) -> None:
        for index, receiver in enumerate(self.config.receivers):
            loc: Loc = ("receivers", index)
            who = f"receiver '{receiver.id}'"
            self._grid_ok((*loc, "grid"), who, receiver.grid)
            if receiver.maintainer is not None:
                self._known(
                    (*loc, "maintainer"), who, "maintainer", receiver.maintainer, maintainers
                )

    def _check_tokens(self, maintainers: set[str]) -> None:
        for index, token in enumerate(self.config.tokens):
            loc: Loc = ("tokens", index)
            who = f"token '{token.id}'"
            if token.grid is not None:
                self._grid_ok((*loc, "grid"), who, token.grid)
            elif token.role == "guard":
                self.report(loc, f"{who}: role 'guard' needs a grid")
            if token.maintainer is not None:
                self._known((*loc, "maintainer"), who, "maintainer", token.maintainer, maintainers)
            elif token.role == "maintenance":
                self.report(loc, f"{who}: role 'maintenance' needs a maintainer")

    def _check_threshold(self, loc: Loc, rule: ThresholdRuleSpec, devices: set[str]) -> None:
        who = f"rule '{rule.id}'"
        wrong_side = hysteresis_problem(rule.direction, rule.fire_at, rule.clear_at)
        if wrong_side:
            self.report((*loc, "clear_at"), f"{who}: {wrong_side}")
        for device_id, fields in rule.overrides.items():
            where: Loc = (*loc, "overrides", device_id)
            if device_id not in devices:
                self.report(where, f"{who}: override for unknown device '{device_id}'")
                continue
            device_type = self.device_types.get(device_id)
            if device_type is not None and device_type != rule.device_type:
                self.report(
                    where,
                    f"{who}: override for device '{device_id}', a {device_type}; "
                    f"the rule applies to {rule.device_type}",
                )
            self._check_override(where, who, rule, device_id, fields)

    def _check_override(
        self, loc: Loc, who: str, rule: ThresholdRuleSpec, device_id: str, fields: dict[str, float]
    ) -> None:
        for name in fields:
            if name not in OVERRIDABLE:
                self.report(
                    (*loc, name),
                    f"{who}: unknown override field '{name}' for device '{device_id}' "
                    f"(allowed: {', '.join(OVERRIDABLE)})",
                )
        if fields.get("min_duration_s", 0.0) < 0:
            self.report((*loc, "min_duration_s"), f"{who}: min_duration_s must be >= 0")
        if "fire_at" in fields or "clear_at" in fields:
            wrong_side = hysteresis_problem(
                rule.direction,
                fields.get("fire_at", rule.fire_at),
                fields.get("clear_at", rule.clear_at),
            )
            if wrong_side:
                self.report(loc, f"{who}: override for device '{device_id}': {wrong_side}")
