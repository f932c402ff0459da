"""Zigbee2MQTT messages to gridwatch readings and events (pure: no network here; see
`mqtt_bridge` for the subscription).

`zigbee2mqtt/<name>` carries a device's state as JSON; `zigbee2mqtt/<name>/availability`
says `online`/`offline`, plain or as `{"state": ...}`. A name may itself contain `/`,
so topics are matched against the configured names, not split. What real devices send
is tolerated: numbers as strings, nulls (the field is skipped), non-JSON on other
sub-topics (ignored), and the same state twice (alarms only change on a transition; a
repeated message within `dedup_s` adds no readings).

Mapping (gridwatch device id from `devices`, name -> id):
- temperature -> `temperature_c`, battery -> `battery_pct`, linkquality -> `link_quality`
  (Zigbee LQI, 0-255; it is not an RSSI in dBm, so it is not sent as `rssi_dbm`);
- smoke, heat, gas or carbon_monoxide true -> `fire.alarm` start (attrs.cause), false
  -> its end (a gas or CO detector's alarm is an alarm of the fire system, GB 26875);
- co (ppm, Tuya CO detectors) -> `co_ppm`; smoke_density (Xiaomi/Heiman smoke detectors,
  in the device's own scale, which is not %/m) -> `smoke_density`, kept as a reading
  and never fed to the %/m smoke rules;
- water_leak -> `fire.supervisory` (water where the fire water supply is), tamper ->
  `fire.fault` (cause tamper), battery_low -> `fire.fault` (cause battery_low: a
  detector that may go silent), availability offline -> `fire.fault` (cause offline);
- battery, linkquality, tamper/offline/battery_low feed the device's health.

Keys a device sends that map to nothing are counted per key (`unmapped`) and logged the
first time each is seen, so a new device model is never silently ignored; keys known to
carry nothing for us (`INFO_KEYS`) are not.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from edge.adapters.base import DeviceHealth, Polled
from edge.adapters.values import as_bool, as_number, as_time, json_object
from gridwatch.records import DeviceEvent, Reading

METRICS = {
    "temperature": "temperature_c", "battery": "battery_pct", "linkquality": "link_quality",
    "co": "co_ppm", "smoke_density": "smoke_density",
}
CONDITIONS = {  # payload key -> (event type, cause)
    "smoke": ("fire.alarm", "smoke"),
    "heat": ("fire.alarm", "heat"),
    "gas": ("fire.alarm", "gas"),
    "carbon_monoxide": ("fire.alarm", "carbon_monoxide"),
    "water_leak": ("fire.supervisory", "water_leak"),
    "tamper": ("fire.fault", "tamper"),
    "battery_low": ("fire.fault", "battery_low"),
}
# Keys that carry nothing gridwatch maps, by design (bookkeeping, settings, comfort).
INFO_KEYS = frozenset({
    "last_seen", "voltage", "humidity", "pressure", "illuminance", "illuminance_lux",
    "update", "update_available", "device_temperature", "power_outage_count", "elapsed",
    "sensitivity", "selftest", "test", "max_duration", "alarm", "warning", "squawk",
    "volume", "mute", "state", "linkquality_rssi", "identify",
})
HEALTH_FAULTS = ("offline", "tamper", "battery_low")
log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Device:
    id: str
    battery: float | None = None
    lqi: float | None = None
    last_payload: bytes = b""
    last_at: float = float("-inf")
    offline: bool = False
    battery_low: bool = False


class Zigbee2MqttMapper:
    def __init__(
        self, agent: str, devices: dict[str, str], base_topic: str = "zigbee2mqtt",
        dedup_s: float = 2.0,
    ) -> None:
        self.agent = agent
        self.base = base_topic.rstrip("/")
        self.dedup_s = dedup_s
        self._devices = {name: _Device(dev) for name, dev in devices.items()}
        self._active: dict[tuple[str, str], str] = {}  # (device, cause) -> start event id
        self.ignored = 0  # messages that carried nothing we map
        self.unmapped: Counter[str] = Counter()  # per payload key we could not map

    @property
    def subscriptions(self) -> list[str]:
        return [f"{self.base}/#"]

    def handle(self, topic: str, payload: bytes, now: float) -> Polled:
        rest = topic[len(self.base) + 1 :] if topic.startswith(self.base + "/") else ""
        if rest in self._devices:
            return self._state(self._devices[rest], payload, now)
        name, _, sub = rest.rpartition("/")
        if sub == "availability" and name in self._devices:
            return self._availability(self._devices[name], payload, now)
        self.ignored += 1  # bridge/*, <name>/set, <name>/get, devices we were not told of
        return Polled()

    def health(self, now: float) -> list[DeviceHealth]:
        out = []
        for d in self._devices.values():
            faults = [f for f in HEALTH_FAULTS if self._fault(d, f)]
            out.append({"device": d.id, "battery": d.battery, "rssi": None,
                        "fault": ",".join(faults) or None, "lqi": d.lqi})
        return out

    def _fault(self, d: _Device, fault: str) -> bool:
        if fault == "offline":
            return d.offline
        if fault == "battery_low":
            return d.battery_low
        return (d.id, fault) in self._active

    def _state(self, d: _Device, payload: bytes, now: float) -> Polled:
        body = json_object(payload)
        if body is None:
            self.ignored += 1
            return Polled()
        duplicate = payload == d.last_payload and now - d.last_at < self.dedup_s
        d.last_payload, d.last_at = payload, now
        if duplicate:
            return Polled()
        ts = round(as_time(body.get("last_seen")) or now, 3)
        self._count_unmapped(d, body)
        out = Polled()
        for key, metric in METRICS.items():
            value = as_number(body.get(key))
            if value is not None:
                out.readings.append(Reading(self.agent, d.id, metric, ts, value))
        d.battery = _pick(as_number(body.get("battery")), d.battery)
        d.lqi = _pick(as_number(body.get("linkquality")), d.lqi)
        low = as_bool(body.get("battery_low"))
        d.battery_low = d.battery_low if low is None else low
        for key, (type_, cause) in CONDITIONS.items():
            on = as_bool(body.get(key))
            if on is not None:
                out.events.extend(self._transition(d.id, type_, cause, on, ts))
        return out

    def _count_unmapped(self, d: _Device, body: dict[str, Any]) -> None:
        for key in body:
            if key in METRICS or key in CONDITIONS or key in INFO_KEYS:
                continue
            self.unmapped[key] += 1
            if self.unmapped[key] == 1:
                log.warning("zigbee2mqtt: %s sent %r, which gridwatch does not map; "
                            "counted in unmapped (new device model?)", d.id, key)

    def _availability(self, d: _Device, payload: bytes, now: float) -> Polled:
        text = payload.decode("utf-8", "replace").strip()
        body = json_object(payload)
        state = str(body.get("state", "")) if body is not None else text
        if state not in ("online", "offline"):
            self.ignored += 1
            return Polled()
        d.offline = state == "offline"
        return Polled(events=self._transition(d.id, "fire.fault", "offline", d.offline, now))

    def _transition(self, device: str, type_: str, cause: str, on: bool, ts: float
                    ) -> list[DeviceEvent]:
        key = (device, cause)
        start_id = self._active.get(key)
        if on == (start_id is not None):
            return []  # no change: a repeated report of the same state
        attrs: dict[str, Any] = {"source": "zigbee2mqtt", "cause": cause}
        state: Literal["start", "end"]
        if on:
            event_id = self._active[key] = f"z2m-{device}-{cause}-{int(ts * 1000)}"
            state = "start"
        else:
            del self._active[key]
            event_id, state = f"{start_id}-end", "end"
            attrs["start_id"] = start_id
        return [DeviceEvent(self.agent, event_id, device, round(ts, 3), type_, state,
                            attrs=attrs)]


def _pick(new: float | None, old: float | None) -> float | None:
    return old if new is None else new
