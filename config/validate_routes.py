"""Checks of the routing tree that need the rest of the configuration: receiver
references, grids, group labels, routes that can never match, and duty schedules."""

from __future__ import annotations

from collections.abc import Callable

from config.errors import Loc
from config.models import StreetConfig
from config.models_routes import INCIDENT_LABELS, RECEIVER_KIND_SELECTORS, MatchSpec, RouteSpec
from config.registry import in_scope

GROUP_LABELS = ("type", "severity", "device_type", "grid", "building", "device", "rule",
                "agent", "area")
SET_FIELDS = ("severity", "device_type", "building")

Report = Callable[[Loc, str], None]


def check_routes(config: StreetConfig, grids: set[str], report: Report) -> None:
    _check_schedules(config, report)
    _check_incident_groups(config, report)
    root = config.routes
    if root is None:
        return
    if root.match.model_dump(exclude_none=True):
        report(("routes", "match"), "the root route catches every alert: it may not have a match")
    receivers = {r.id for r in config.receivers}
    _check_route(root, ("routes",), _Scope(), receivers, grids, report)


class _Scope:
    """What every alert reaching a route must satisfy: the matchers of its ancestors."""

    def __init__(self, sets: dict[str, frozenset[str]] | None = None, grid: str | None = None):
        self.sets = sets or {}
        self.grid = grid

    def narrowed(self, match: MatchSpec) -> tuple[_Scope, str | None]:
        sets = dict(self.sets)
        for name in SET_FIELDS:
            values = getattr(match, name)
            if values is None:
                continue
            mine = frozenset(str(v) for v in values)
            inherited = sets.get(name)
            if inherited is not None and not mine & inherited:
                return (
                    self,
                    f"its {name} {sorted(mine)} is outside its parent's {sorted(inherited)}",
                )
            sets[name] = mine if inherited is None else mine & inherited
        grid = self.grid
        if match.grid is not None:
            if grid is not None and not (in_scope(match.grid, grid) or in_scope(grid, match.grid)):
                return self, f"its grid '{match.grid}' is outside its parent's '{grid}'"
            grid = match.grid if grid is None or in_scope(match.grid, grid) else grid
        return _Scope(sets, grid), None


def _check_route(
    route: RouteSpec, loc: Loc, scope: _Scope, receivers: set[str], grids: set[str], report: Report
) -> None:
    name = f"route '{route.name}'" if route.name else "route"
    for i, sel in enumerate(route.receivers or []):
        if sel not in RECEIVER_KIND_SELECTORS and sel not in receivers:
            report(
                (*loc, "receivers", i),
                f"{name}: unknown receiver '{sel}' (neither a "
                f"receiver id nor a kind: {', '.join(RECEIVER_KIND_SELECTORS)})",
            )
    for i, label in enumerate(route.group_by or []):
        if label not in GROUP_LABELS:
            report(
                (*loc, "group_by", i),
                f"{name}: unknown group_by label '{label}' (known: {', '.join(GROUP_LABELS)})",
            )
    if route.match.grid is not None and route.match.grid not in grids:
        report((*loc, "match", "grid"), f"{name}: unknown grid '{route.match.grid}'")
    catch_all_at: int | None = None
    for i, child in enumerate(route.routes):
        child_loc: Loc = (*loc, "routes", i)
        child_name = f"route '{child.name}'" if child.name else f"route {i + 1}"
        if catch_all_at is not None:
            report(
                child_loc,
                f"{child_name} is unreachable: route {catch_all_at + 1} before "
                "it matches everything and does not continue",
            )
            continue
        narrowed, why = scope.narrowed(child.match)
        if why is not None:
            report((*child_loc, "match"), f"{child_name} is unreachable: {why}")
            continue
        if not child.match.model_dump(exclude_none=True) and not child.continue_:
            catch_all_at = i
        _check_route(child, child_loc, narrowed, receivers, grids, report)


def _check_schedules(config: StreetConfig, report: Report) -> None:
    for i, r in enumerate(config.receivers):
        if r.on_duty == "always":
            continue
        start, end = r.on_duty.split("-")
        if end.startswith("24") and end != "24:00":
            report(("receivers", i, "on_duty"), f"receiver '{r.id}': no such time '{end}'")
        elif start == end:
            report(
                ("receivers", i, "on_duty"),
                f"receiver '{r.id}': on_duty '{r.on_duty}' is an empty window",
            )


def _check_incident_groups(config: StreetConfig, report: Report) -> None:
    if config.incidents is None:
        return
    seen: set[str] = set()
    for index, group in enumerate(config.incidents.groups):
        loc = ("incidents", "groups", index)
        if group.name in seen:
            report((*loc, "name"), f"duplicate incident group '{group.name}'")
        seen.add(group.name)
        for label in group.group_by:
            if label not in INCIDENT_LABELS:
                report(
                    (*loc, "group_by"),
                    f"incident group '{group.name}': unknown label '{label}' in group_by "
                    f"(known: {', '.join(INCIDENT_LABELS)})",
                )
