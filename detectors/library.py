"""The reading rules of a configuration, built once per engine, by list name."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from config.models import RulesSpec
from config.models_rules import ReadingRuleSpec
from detectors.anomaly_rule import AnomalyRule
from detectors.quality import FlatlineRule, NoisyRule, RangeRule
from detectors.rate import RateRule
from detectors.reading_rule import ReadingRule
from detectors.slots import DeviceIndex

Builder = Callable[[ReadingRuleSpec, DeviceIndex], ReadingRule]
BUILDERS: dict[str, Builder] = {
    "rates": RateRule,  # type: ignore[dict-item]
    "ranges": RangeRule,  # type: ignore[dict-item]
    "flatlines": FlatlineRule,  # type: ignore[dict-item]
    "noisy": NoisyRule,  # type: ignore[dict-item]
    "anomalies": AnomalyRule,  # type: ignore[dict-item]
}


def reading_rules(rules: RulesSpec, index: DeviceIndex) -> list[ReadingRule]:
    built: list[ReadingRule] = []
    for name, build in BUILDERS.items():
        specs: Sequence[ReadingRuleSpec] = getattr(rules, name)
        built += [build(spec, index) for spec in specs]
    return built
