"""Detector rules of the sample street: thresholds, silence and device events.

Thresholds follow common practice for the sensors (GB 4715 smoke detectors alarm at a
few %/m obscuration, fixed heat detectors at 57 °C class A1, a hydrant's least
favourable point must keep about 0.10 MPa); events follow the facility states of
GB 26875 and the elevator faults of GB/T 24476.
"""

from __future__ import annotations

# id, device type, metric, direction, fire_at, clear_at, min_duration_s, severity,
# alert type, summary ({device} and {value} are filled in)
THRESHOLDS: tuple[tuple[str, str, str, str, float, float, float, str, str, str], ...] = (
    ("smoke-high", "smoke_detector", "smoke_obscuration_pct_m", "above", 4.0, 1.0, 0.0,
     "critical", "fire.smoke", "{device} 烟雾浓度 {value} %/m，疑似火情"),
    ("heat-high", "heat_detector", "temperature_c", "above", 57.0, 45.0, 0.0,
     "critical", "fire.heat", "{device} 温度 {value} °C，疑似火情"),
    ("gas-co-high", "gas_detector", "co_ppm", "above", 50.0, 30.0, 10.0,
     "major", "fire.gas", "{device} 一氧化碳 {value} ppm 超标"),
    ("hydrant-pressure-low", "hydrant_pressure", "water_pressure_mpa", "below", 0.10, 0.14, 60.0,
     "major", "fire.pressure_low", "{device} 消火栓水压 {value} MPa 过低"),
    ("sprinkler-pressure-low", "sprinkler_pressure", "water_pressure_mpa", "below", 0.05, 0.08,
     60.0, "major", "fire.pressure_low", "{device} 喷淋末端水压 {value} MPa 过低"),
    ("tank-level-low", "water_tank", "water_level_m", "below", 1.0, 1.3, 120.0,
     "major", "fire.tank_low", "{device} 消防水箱水位 {value} m 过低"),
    ("pump-pressure-low", "fire_pump", "outlet_pressure_mpa", "below", 0.50, 0.58, 60.0,
     "major", "fire.pressure_low", "{device} 消防泵组出口压力 {value} MPa 过低"),
    ("smoke-battery-low", "smoke_detector", "battery_pct", "below", 15.0, 25.0, 600.0,
     "warning", "device.battery_low", "{device} 电池电量 {value}% 偏低，请更换"),
    ("heat-battery-low", "heat_detector", "battery_pct", "below", 15.0, 25.0, 600.0,
     "warning", "device.battery_low", "{device} 电池电量 {value}% 偏低，请更换"),
)

# event type -> (severity, summary). The controller events of an elevator composite's
# condition (elevator.trapped, .overspeed, ...) raise that composite's alert instead.
EVENTS: dict[str, tuple[str, str]] = {
    "fire.alarm": ("critical", "{device} 火灾报警"),
    "fire.fault": ("minor", "{device} 消防设施故障"),
    "fire.supervisory": ("major", "{device} 监管报警"),
    "fire.disabled": ("minor", "{device} 设备被屏蔽"),
    "fire.start": ("major", "{device} 消防联动启动"),
    "fire.feedback": ("info", "{device} 联动设备反馈"),
    "fire.power_fault": ("major", "{device} 主电/备电故障"),
    "fire.reset": ("info", "{device} 控制器复位"),
    "elevator.stop_outside_door_zone": ("major", "{device} 非平层停梯"),
    "elevator.power_loss": ("major", "{device} 电梯停电"),
    "elevator.safety_circuit_open": ("major", "{device} 安全回路断开"),
    "elevator.door_fault": ("minor", "{device} 门锁回路故障"),
    "elevator.emergency_call": ("major", "{device} 轿厢紧急呼叫"),
    "elevator.ebike": ("major", "{device} 电动自行车进入轿厢"),
    "camera.intrusion": ("major", "{device} 区域入侵"),
    "camera.loitering": ("minor", "{device} 人员徘徊"),
    "camera.line_crossing": ("minor", "{device} 越线"),
    "camera.vehicle_dwell": ("minor", "{device} 车辆违停"),
    "camera.fire_lane_blocked": ("major", "{device} 消防通道占用"),
    "camera.falling_object": ("critical", "{device} 高空抛物"),
    "camera.smoke": ("major", "{device} 画面中出现烟雾"),
    "camera.tamper": ("minor", "{device} 摄像机被遮挡或移动"),
}

OFFLINE = {"factor": 3.0, "grace_s": 30.0, "severity": "major"}

# The rule library (config/models_rules.py). Rates: EN 54-5 class R heat detectors
# respond to a rise of about 10 °C/min; a hydrant losing 0.05 MPa a minute is a leak or
# an open valve long before the 0.10 MPa threshold is reached.
_HEAT = {"device_type": "heat_detector", "metric": "temperature_c"}
_SMOKE = {"device_type": "smoke_detector", "metric": "smoke_obscuration_pct_m"}
_HYD = {"device_type": "hydrant_pressure", "metric": "water_pressure_mpa"}
_SPR = {"device_type": "sprinkler_pressure", "metric": "water_pressure_mpa"}
_FAULT = {"severity": "minor", "alert_type": "device.sensor_fault", "hold_s": 300.0}
RATES: list[dict[str, object]] = [
    {"id": "heat-rise", **_HEAT, "direction": "rise", "window_s": 180.0, "fire_per_min": 8.0,
     "clear_per_min": 4.0, "hold_s": 120.0, "severity": "critical", "alert_type": "fire.heat_rise",
     "summary": "{device} 温升速率 {value} °C/min，疑似火情"},
    {"id": "hydrant-pressure-fall", **_HYD, "direction": "fall", "window_s": 120.0,
     "fire_per_min": 0.05, "clear_per_min": 0.01, "hold_s": 300.0, "severity": "major",
     "alert_type": "fire.pressure_loss", "summary": "{device} 水压下降 {value} MPa/min"},
    {"id": "sprinkler-pressure-fall", **_SPR, "direction": "fall", "window_s": 120.0,
     "fire_per_min": 0.05, "clear_per_min": 0.01, "hold_s": 300.0, "severity": "major",
     "alert_type": "fire.pressure_loss", "summary": "{device} 喷淋水压下降 {value} MPa/min"},
]
RANGES: list[dict[str, object]] = [
    {"id": "heat-range", **_HEAT, "low": -40.0, "high": 150.0, **_FAULT,
     "summary": "{device} 温度读数 {value} 不可信，传感器故障"},
    {"id": "smoke-range", **_SMOKE, "low": 0.0, "high": 100.0, **_FAULT,
     "summary": "{device} 烟雾读数 {value} 不可信，传感器故障"},
    {"id": "hydrant-range", **_HYD, "low": 0.0, "high": 2.5, **_FAULT,
     "summary": "{device} 水压读数 {value} 不可信，传感器故障"},
]
FLATLINES: list[dict[str, object]] = [
    {"id": "heat-stuck", **_HEAT, "tolerance": 0.0005, "samples": 30, "stuck_s": 1800.0,
     **_FAULT, "alert_type": "device.sensor_stuck", "summary": "{device} 温度读数长时间不变"},
]
NOISY: list[dict[str, object]] = [
    {"id": "heat-noisy", **_HEAT, "samples": 20, "min_step": 0.5, "fire_reversals": 10,
     "clear_reversals": 4, **_FAULT, "alert_type": "device.sensor_noisy",
     "summary": "{device} 温度读数跳变（{value} 次反复）"},
]
# The online anomaly detector where no fixed limit says "wrong", each metric with the
# detector that suits its signal and a false-alert budget (alerts per device-month on
# normal operation; each device learns its own fire level for it, detectors.anomaly_level,
# over about a day of its readings before it may page):
# - a lift's vibration (5 s): worn guides and rollers show as new levels and sudden
#   steps, the step variant; 1 a month: a maintenance visit, not an emergency;
# - hydrant and sprinkler pressure (30 s): a slow drift or a changed daily pattern (a
#   leak, a pump cycling), the default; half a month: a few hundred points street-wide;
# - the fire tank's level (60 s): a changed daily draw-down, the default; 1 a month;
# - smoke detectors' battery (60 s): a sudden drop (a failing cell) against the steady
#   drain, the step variant; 0.2 a month, as there are hundreds of them.
# Warnings for maintenance, resolved after ten quiet minutes.
_ANOMALY = {"severity": "warning", "hold_s": 600.0, "fire_score": 0.5, "clear_score": 0.3}
_DAY_AT = {5.0: 17_280, 30.0: 2_880, 60.0: 1_440}  # learning_rows: a day of readings
ANOMALIES: list[dict[str, object]] = [
    {"id": "elevator-vibration-anomaly", "device_type": "elevator", "metric": "vibration_rms_g",
     "detector": "robust-knn-step", **_ANOMALY, "max_false_alerts_per_device_month": 1.0,
     "learning_rows": _DAY_AT[5.0], "alert_type": "elevator.vibration_anomaly",
     "summary": "{device} 振动异常（异常分 {value}）"},
    {"id": "hydrant-pressure-anomaly", **_HYD, "detector": "robust-knn", **_ANOMALY,
     "max_false_alerts_per_device_month": 0.5, "learning_rows": _DAY_AT[30.0],
     "alert_type": "fire.pressure_anomaly", "summary": "{device} 水压走势异常（异常分 {value}）"},
    {"id": "sprinkler-pressure-anomaly", **_SPR, "detector": "robust-knn", **_ANOMALY,
     "max_false_alerts_per_device_month": 0.5, "learning_rows": _DAY_AT[30.0],
     "alert_type": "fire.pressure_anomaly",
     "summary": "{device} 喷淋水压走势异常（异常分 {value}）"},
    {"id": "tank-level-anomaly", "device_type": "water_tank", "metric": "water_level_m",
     "detector": "robust-knn", **_ANOMALY, "max_false_alerts_per_device_month": 1.0,
     "learning_rows": _DAY_AT[60.0], "alert_type": "fire.tank_anomaly",
     "summary": "{device} 水箱水位走势异常（异常分 {value}）"},
    {"id": "smoke-battery-anomaly", **_SMOKE, "metric": "battery_pct",
     "detector": "robust-knn-step", **_ANOMALY, "max_false_alerts_per_device_month": 0.2,
     "learning_rows": _DAY_AT[60.0], "alert_type": "device.battery_anomaly",
     "summary": "{device} 电池电量异常下降（异常分 {value}）"},
]
# The fire pump set's metrics taken together (detectors.rig_model): a stuck check valve,
# a worn impeller or a failing bearing moves pressure, current, heat and vibration a
# little each, out of step with how the jockey pump's cycle moves them. A day of its
# 10 s readings to learn; its defaults otherwise (chosen on SKAB's water-circulation rig).
RIGS: list[dict[str, object]] = [
    {"id": "fire-pump-rig-anomaly", "device_type": "fire_pump",
     "metrics": ["outlet_pressure_mpa", "inlet_pressure_mpa", "motor_current_a",
                 "motor_temp_c", "vibration_mm_s"],
     "learning_rows": 8_640, "severity": "warning", "alert_type": "fire.pump_anomaly",
     "summary": "{device} 消防泵组运行异常（综合异常分 {value}，偏离最大：{metric}）"},
]
ELEVATOR = {"trapped_confirm_s": 30.0, "hold_s": 30.0}
CAMERAS: list[dict[str, object]] = [
    {"id": "night-intrusion", "event_type": "camera.intrusion", "schedule": "22:00-06:00",
     "severity": "major", "alert_type": "camera.intrusion", "summary": "{device} 夜间入侵 {zone}"},
    {"id": "loitering", "event_type": "camera.loitering", "min_dwell_s": 120.0,
     "severity": "minor", "alert_type": "camera.loitering", "summary": "{device} 人员徘徊 {zone}"},
    {"id": "red-line-parking", "event_type": "camera.vehicle_dwell", "min_dwell_s": 180.0,
     "severity": "minor", "alert_type": "camera.vehicle_dwell", "summary": "{device} 违停 {zone}"},
    {"id": "fire-lane-blocked", "event_type": "camera.fire_lane_blocked", "min_dwell_s": 60.0,
     "severity": "major", "alert_type": "camera.fire_lane_blocked",
     "summary": "{device} 消防通道占用 {zone}"},
    {"id": "falling-object", "event_type": "camera.falling_object", "severity": "critical",
     "alert_type": "camera.falling_object", "summary": "{device} 高空抛物"},
]
CORRELATION = {"fire_window_s": 180.0, "agent_min_devices": 5, "agent_fraction": 0.5}

_THRESHOLD_KEYS = (
    "id",
    "device_type",
    "metric",
    "direction",
    "fire_at",
    "clear_at",
    "min_duration_s",
    "severity",
    "alert_type",
    "summary",
)


def rules(overrides: dict[str, dict[str, dict[str, float]]]) -> dict[str, object]:
    """The `rules:` section; `overrides` maps rule id -> device id -> changed fields."""
    thresholds: list[dict[str, object]] = []
    for row in THRESHOLDS:
        rule: dict[str, object] = dict(zip(_THRESHOLD_KEYS, row, strict=True))
        if row[0] in overrides:
            rule["overrides"] = overrides[row[0]]
        thresholds.append(rule)
    events = [
        {"event_type": event_type, "severity": severity, "summary": summary}
        for event_type, (severity, summary) in EVENTS.items()
    ]
    return {
        "thresholds": thresholds,
        "offline": dict(OFFLINE),
        "events": events,
        "rates": RATES,
        "ranges": RANGES,
        "flatlines": FLATLINES,
        "noisy": NOISY,
        "anomalies": ANOMALIES,
        "rig_anomalies": RIGS,
        "elevator": ELEVATOR,
        "cameras": CAMERAS,
        "correlation": CORRELATION,
    }
