// Shared by the ops and maintenance pages: Chinese by default, an English switch
// (remembered under the same key as the board's), and `data-i18n` labels.
"use strict";

const I18N = {
  lang: localStorage.getItem("gw.lang") === "en" ? "en" : "zh",
  text: { zh: {}, en: {} },
  onChange: [],

  t(key) {
    return this.text[this.lang][key] ?? this.text.zh[key] ?? key;
  },

  apply() {
    document.documentElement.lang = this.lang === "zh" ? "zh-CN" : "en";
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = this.t(el.dataset.i18n);
    for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
      el.placeholder = this.t(el.dataset.i18nPlaceholder);
    }
    const button = document.getElementById("lang");
    if (button) button.textContent = this.lang === "zh" ? "EN" : "中文";
    for (const fn of this.onChange) fn();
  },

  // `dict` is {zh: {...}, en: {...}}; the switch button has id "lang".
  init(dict) {
    this.text = dict;
    document.getElementById("lang")?.addEventListener("click", () => {
      this.lang = this.lang === "zh" ? "en" : "zh";
      localStorage.setItem("gw.lang", this.lang);
      this.apply();
    });
    this.apply();
  },

  time(iso) {
    if (!iso) return "—";
    return new Date(iso).toLocaleString(this.lang === "zh" ? "zh-CN" : "en-GB", {
      timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hour12: false,
    });
  },
};

// Fetch JSON from the API with the session cookie; a lost session goes back to sign-in.
async function apiGet(path) {
  const resp = await fetch(path, { credentials: "same-origin" });
  if (resp.status === 401) {
    location.href = "/ui/";
    throw new Error("signed out");
  }
  if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
  return resp.json();
}

// Alert types in both languages (contract types, the rule library's, and the
// backend's own); an unknown type shows a generic name, never a bare code in Chinese.
const ALERT_TYPES = {
  "fire.alarm": ["火警", "Fire alarm"], "fire.fault": ["消防设施故障", "Fire facility fault"],
  "fire.supervisory": ["消防监管报警", "Supervisory alarm"],
  "fire.disabled": ["消防设备屏蔽", "Device disabled"], "fire.start": ["消防联动启动", "Linkage started"],
  "fire.feedback": ["联动反馈", "Linkage feedback"], "fire.power_fault": ["消防电源故障", "Power fault"],
  "fire.reset": ["控制器复位", "Panel reset"], "fire.smoke": ["烟雾报警", "Smoke"],
  "fire.heat": ["高温报警", "Heat"], "fire.heat_rise": ["温度骤升", "Rapid heat rise"],
  "fire.gas": ["一氧化碳超标", "Carbon monoxide"], "fire.confirmed": ["确认火情", "Confirmed fire"],
  "fire.pressure_low": ["水压过低", "Low water pressure"],
  "fire.pressure_loss": ["水压下降", "Water pressure falling"],
  "fire.pressure_anomaly": ["水压异常", "Water pressure anomaly"],
  "fire.tank_low": ["水箱水位低", "Tank level low"], "fire.tank_anomaly": ["水位异常", "Tank level anomaly"],
  "elevator.trapped": ["电梯困人", "Entrapment"], "elevator.door_open_moving": ["开门走梯", "Moving with door open"],
  "elevator.overtravel": ["冲顶/蹲底", "Over-travel"], "elevator.overtravel_top": ["冲顶", "Over-travel (top)"],
  "elevator.overtravel_bottom": ["蹲底", "Over-travel (bottom)"], "elevator.overspeed": ["电梯超速", "Overspeed"],
  "elevator.stop_outside_door_zone": ["非平层停梯", "Stopped outside door zone"],
  "elevator.power_loss": ["电梯停电", "Power loss"], "elevator.safety_circuit_open": ["安全回路断开", "Safety circuit open"],
  "elevator.door_fault": ["门锁故障", "Door fault"], "elevator.door_fault_repeated": ["门锁反复故障", "Repeated door faults"],
  "elevator.emergency_call": ["轿厢紧急呼叫", "Emergency call"], "elevator.ebike": ["电瓶车进电梯", "E-bike in car"],
  "elevator.vibration_anomaly": ["振动异常", "Vibration anomaly"],
  "camera.intrusion": ["区域入侵", "Intrusion"], "camera.loitering": ["人员徘徊", "Loitering"],
  "camera.line_crossing": ["越线", "Line crossing"], "camera.vehicle_dwell": ["车辆违停", "Illegal parking"],
  "camera.fire_lane_blocked": ["消防通道占用", "Fire lane blocked"], "camera.falling_object": ["高空抛物", "Falling object"],
  "camera.smoke": ["画面烟雾", "Smoke on camera"], "camera.tamper": ["摄像机遮挡", "Camera tampered"],
  "device.offline": ["设备离线", "Device offline"], "agent.offline": ["边缘网关离线", "Edge agent offline"],
  "device.battery_low": ["电池电量低", "Battery low"], "device.sensor_fault": ["传感器故障", "Sensor fault"],
  "device.sensor_stuck": ["读数不变", "Sensor stuck"], "device.sensor_noisy": ["读数跳变", "Sensor noisy"],
};
const FAMILY = { fire: ["消防告警", "Fire alert"], elevator: ["电梯告警", "Elevator alert"],
  camera: ["视频告警", "Camera alert"], device: ["设备告警", "Device alert"], agent: ["网关告警", "Agent alert"] };
const SEVERITY_ORDER = { critical: 0, major: 1, minor: 2, warning: 3, info: 4 };

function typeName(type, lang = I18N.lang) {
  const i = lang === "en" ? 1 : 0;
  const known = ALERT_TYPES[type] ?? FAMILY[String(type).split(".")[0]];
  return known ? known[i] : (lang === "en" ? "Alert" : "告警");
}

// 文苑一村 · 4号楼 2单元 11层 · 电梯前室 (Chinese), the location's English text otherwise.
function placeText(loc, lang = I18N.lang) {
  if (!loc) return "—";
  if (lang === "en") return loc.text_en || loc.text;
  if (!loc.mapped) return loc.text;
  const floor = loc.floor < 0 ? `地下${-loc.floor}层` : `${loc.floor}层`;
  const middle = [loc.building, loc.unit, floor].filter(Boolean).join(" ");
  return [loc.area, middle, loc.place].filter(Boolean).join(" · ");
}

// Severity first, then the newest: a minor alert never sits above a critical one.
function byUrgency(a, b) {
  const rank = (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9);
  return rank !== 0 ? rank : Date.parse(b.started_at) - Date.parse(a.started_at);
}
