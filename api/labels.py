"""Human words for the health report's columns and the device types, in Chinese and in
English: the CSV's header row (with `lang`) and the printed report use them, so neither
mixes the two languages."""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]

HEALTH_COLUMNS: dict[str, tuple[str, str]] = {
    "device": ("设备", "Device"), "type": ("类型", "Type"), "grid": ("网格", "Grid"),
    "building": ("楼栋", "Building"), "floor": ("楼层", "Floor"),
    "maintainer": ("维保单位", "Maintainer"), "interval_s": ("上报周期(秒)", "Interval (s)"),
    "allowance_s": ("允许静默(秒)", "Allowed silence (s)"), "last_seen": ("最后上报", "Last seen"),
    "online": ("在线", "Online"), "uptime_pct_24h": ("24小时在线率(%)", "Uptime 24h (%)"),
    "messages_24h": ("24小时消息数", "Messages 24h"),
    "expected_24h": ("24小时应收", "Expected 24h"),
    "gaps_24h": ("24小时中断", "Gaps 24h"), "battery": ("电量(%)", "Battery (%)"),
    "faults_24h": ("24小时故障", "Faults 24h"), "alerts_24h": ("24小时告警", "Alerts 24h"),
}

DEVICE_TYPES: dict[str, tuple[str, str]] = {
    "camera": ("摄像机", "camera"), "elevator": ("电梯", "elevator"),
    "smoke_detector": ("烟感", "smoke detector"), "heat_detector": ("温感", "heat detector"),
    "gas_detector": ("燃气探测器", "gas detector"),
    "hydrant_pressure": ("消火栓水压", "hydrant pressure"),
    "sprinkler_pressure": ("喷淋水压", "sprinkler pressure"),
    "water_tank": ("消防水箱", "water tank"), "fire_panel": ("火灾报警控制器", "fire panel"),
    "fire_pump": ("消防泵组", "fire pump set"),
}


def word(table: dict[str, tuple[str, str]], key: str, lang: Lang) -> str:
    pair = table.get(key)
    return key if pair is None else pair[0 if lang == "zh" else 1]
