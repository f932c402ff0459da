// The maintenance health report: the unit's devices with the contract's 24 h figures,
// sortable, filterable, with lazily drawn sparklines of the key metric and message rate.
"use strict";

const KEY_METRIC = {
  camera: "fps", elevator: "vibration_rms_g", smoke_detector: "smoke_obscuration_pct_m",
  heat_detector: "temperature_c", gas_detector: "co_ppm", hydrant_pressure: "water_pressure_mpa",
  sprinkler_pressure: "water_pressure_mpa", water_tank: "water_level_m", fire_panel: "battery_pct",
  fire_pump: "outlet_pressure_mpa",
};
const TYPE_ZH = {
  camera: "摄像机", elevator: "电梯", smoke_detector: "烟感", heat_detector: "温感",
  gas_detector: "燃气探测器", hydrant_pressure: "消火栓水压", sprinkler_pressure: "喷淋水压",
  water_tank: "消防水箱", fire_panel: "火灾报警控制器", fire_pump: "消防泵组",
};
const TYPE_EN = {
  camera: "camera", elevator: "elevator", smoke_detector: "smoke detector",
  heat_detector: "heat detector", gas_detector: "gas detector", hydrant_pressure: "hydrant pressure",
  sprinkler_pressure: "sprinkler pressure", water_tank: "water tank", fire_panel: "fire panel",
  fire_pump: "fire pump set",
};
const ALERTS_EVERY_MS = 10000;
const LOW_BATTERY = 20;
const SPARK_STEP = 1800;
const SPARK_SLOTS = 48;
const SPARK_PARALLEL = 4;

I18N.onChange.push(() => render());
// The downloads and the printed report follow the page's language.
I18N.onChange.push(() => {
  document.getElementById("csv").href = `/api/v1/health/devices?format=csv&lang=${I18N.lang}`;
  document.getElementById("print").href = `/ui/maintenance/report?lang=${I18N.lang}`;
});
const DICT = {
  zh: {
    title: "设备健康报告", logout: "退出", search: "设备 / 楼栋 / 网格", allTypes: "全部类型",
    allStates: "全部状态", offlineOnly: "离线", gapsOnly: "有中断", batteryLow: "电量低 (<20%)",
    faultsOnly: "有故障", csv: "导出 CSV", json: "导出 JSON", report: "打印日报",
    device: "设备", type: "类型", building: "楼栋", grid: "网格", lastSeen: "最后上报",
    online: "在线", uptime: "24h在线率", messages: "消息/应收", gaps: "中断", battery: "电量",
    faults: "故障", alerts: "告警", anomaly: "异常检测阈值", learning: "学习中", trend: "24h 趋势 (指标 / 消息率)", yes: "在线", no: "离线",
    shown: "显示 {n} / {total} 台，离线 {off} 台", unitAlerts: "本单位告警", location: "位置",
    started: "开始时间", state: "状态", firingSt: "告警中", resolvedSt: "已恢复", ackedSt: "已确认",
    noAlerts: "近期无告警", devices: "设备", severity: "级别", firingN: "{n} 条告警中",
    sev_critical: "紧急", sev_major: "重要", sev_minor: "次要", sev_warning: "警告", sev_info: "提示",
    r24h: "24 小时", r7d: "7 天", close: "关闭", noData: "此时段无读数", chartOf: "{device} 读数",
  },
  en: {
    title: "Device health report", logout: "Sign out", search: "device / building / grid",
    allTypes: "All types", allStates: "All states", offlineOnly: "Offline", gapsOnly: "With gaps",
    batteryLow: "Battery low (<20%)", faultsOnly: "With faults", csv: "Export CSV",
    json: "Export JSON", report: "Printable daily report", device: "Device", type: "Type",
    building: "Building", grid: "Grid", lastSeen: "Last seen", online: "Online",
    uptime: "Uptime 24h", messages: "Msgs/expected", gaps: "Gaps", battery: "Battery",
    faults: "Faults", alerts: "Alerts", anomaly: "Anomaly level", learning: "learning", trend: "24h trend (metric / message rate)",
    yes: "online", no: "OFFLINE", shown: "{n} of {total} devices shown, {off} offline",
    unitAlerts: "This unit's alerts", location: "Location", started: "Started", state: "State",
    firingSt: "firing", resolvedSt: "resolved", ackedSt: "acknowledged",
    noAlerts: "No recent alerts", devices: "Devices", severity: "Severity", firingN: "{n} firing",
    sev_critical: "critical", sev_major: "major", sev_minor: "minor", sev_warning: "warning",
    sev_info: "info", r24h: "24 h", r7d: "7 d", close: "Close", noData: "No readings in this period",
    chartOf: "{device}: readings",
  },
};

let rows = [];
let unitAlerts = [];
const locations = new Map(); // device -> location
let sortKey = "online";
let sortDir = "asc";
const sparkQueue = [];
const sparkCache = new Map(); // device -> its two drawn sparklines, kept across re-renders
let sparkRunning = 0;

function deviceTypeName(type) {
  return (I18N.lang === "zh" ? TYPE_ZH : TYPE_EN)[type] ?? type;
}

function matches(r) {
  const q = document.getElementById("search").value.trim().toLowerCase();
  const type = document.getElementById("type").value;
  const state = document.getElementById("state").value;
  const where = placeText(locations.get(r.device));
  if (q && ![r.device, where, r.grid].some((s) => s.toLowerCase().includes(q))) return false;
  if (type && r.type !== type) return false;
  if (state === "offline" && r.online) return false;
  if (state === "gaps" && !(r.gaps_24h > 0)) return false;
  if (state === "battery" && !(r.battery !== null && r.battery < LOW_BATTERY)) return false;
  if (state === "faults" && !(r.faults_24h > 0)) return false;
  return true;
}

function compare(a, b) {
  const x = a[sortKey];
  const y = b[sortKey];
  // Missing figures sort last whichever the direction.
  if (x === null && y === null) return a.device.localeCompare(b.device);
  if (x === null) return 1;
  if (y === null) return -1;
  const order = typeof x === "string" ? x.localeCompare(y) : Number(x) - Number(y);
  return (sortDir === "asc" ? order : -order) || a.device.localeCompare(b.device);
}

function cell(tr, text, cls) {
  const td = tr.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function rowOf(r) {
  const tr = document.createElement("tr");
  tr.dataset.device = r.device;
  tr.className = r.online ? "online" : "offline";
  const name = cell(tr, "", "device");
  const open = document.createElement("button");
  open.type = "button";
  open.className = "link";
  open.textContent = r.device;
  open.addEventListener("click", () => openChart(r.device, r.type));
  name.appendChild(open);
  cell(tr, deviceTypeName(r.type), "type");
  cell(tr, placeText(locations.get(r.device)), "place").title = r.grid;
  cell(tr, I18N.time(r.last_seen), "last-seen");
  cell(tr, I18N.t(r.online ? "yes" : "no"), "online");
  cell(tr, r.uptime_pct_24h === null ? "—" : `${r.uptime_pct_24h.toFixed(1)}%`, "uptime");
  cell(tr, `${r.messages_24h} / ${r.expected_24h}`, "messages");
  cell(tr, r.gaps_24h ?? "—", "gaps");
  const low = r.battery !== null && r.battery < LOW_BATTERY;
  cell(tr, r.battery === null ? "—" : `${Math.round(r.battery)}%`, low ? "battery low" : "battery");
  cell(tr, r.faults_24h ?? "—", "faults");
  cell(tr, String(r.alerts_24h), "alerts");
  // Each anomaly rule's learnt fire level; while it learns the rule does not page.
  const levels = (r.anomaly ?? []).map((a) =>
    `${a.rule} ${a.learning ? I18N.t("learning") : a.level.toFixed(3)}`);
  cell(tr, levels.length ? levels.join("; ") : "—", "anomaly");
  const spark = cell(tr, "", "spark");
  spark.dataset.device = r.device;
  spark.dataset.metric = KEY_METRIC[r.type] ?? "battery_pct";
  const drawn = sparkCache.get(r.device);
  if (drawn) spark.replaceChildren(...drawn.map((svg) => svg.cloneNode(true)));
  return tr;
}

function renderAlerts() {
  const list = [...unitAlerts].sort((a, b) =>
    (a.status === "firing" ? 0 : 1) - (b.status === "firing" ? 0 : 1) || byUrgency(a, b));
  const trs = list.map((a) => {
    const tr = document.createElement("tr");
    tr.dataset.alertId = String(a.id);
    tr.className = `sev-${a.severity} ${a.status}`;
    cell(tr, I18N.t(`sev_${a.severity}`), "sev");
    cell(tr, typeName(a.type), "type");
    cell(tr, placeText(a.location), "location").title = a.grid;
    cell(tr, a.device, "device");
    cell(tr, I18N.time(a.started_at), "time");
    const state = a.status === "resolved" ? I18N.t("resolvedSt")
      : a.acked_by ? `${I18N.t("ackedSt")} · ${a.acked_by}` : I18N.t("firingSt");
    cell(tr, state, "status");
    return tr;
  });
  document.querySelector("#alerts tbody").replaceChildren(...trs);
  document.getElementById("alerts-empty").hidden = list.length > 0;
  const firing = list.filter((a) => a.status === "firing").length;
  document.getElementById("unit-firing").textContent = firing ? I18N.t("firingN").replace("{n}", firing) : "";
}

async function loadAlerts() {
  try {
    unitAlerts = await apiGet("/api/v1/alerts?status=all&limit=50");
    renderAlerts();
  } catch (err) {
    console.warn("alerts", err);
  }
}

function render() {
  renderAlerts();
  const shown = rows.filter(matches).sort(compare);
  document.querySelector("#health tbody").replaceChildren(...shown.map(rowOf));
  for (const th of document.querySelectorAll("#health th[data-key]")) {
    if (th.dataset.key === sortKey) th.dataset.sort = sortDir;
    else delete th.dataset.sort;
  }
  const off = rows.filter((r) => !r.online).length;
  document.getElementById("summary").textContent = I18N.t("shown")
    .replace("{n}", shown.length).replace("{total}", rows.length).replace("{off}", off);
  for (const td of document.querySelectorAll("td.spark:empty")) observer.observe(td);
}

async function drawSpark(td) {
  const { device, metric } = td.dataset;
  const end = Date.now() / 1000;
  const start = Math.floor((end - SPARK_SLOTS * SPARK_STEP) / SPARK_STEP) * SPARK_STEP;
  const q = (extra) => `/api/v1/readings?device=${encodeURIComponent(device)}` +
    `&metric=${encodeURIComponent(metric)}&start=${start}&end=${end}${extra}`;
  // The server averages the metric per step; the message rate needs every point's time.
  const [stepped, raw] = await Promise.all([apiGet(q(`&step=${SPARK_STEP}`)), apiGet(q(""))]);
  const mean = buckets(stepped.points, start, SPARK_STEP, SPARK_SLOTS + 1).mean;
  const rate = buckets(raw.points, start, SPARK_STEP, SPARK_SLOTS + 1).count;
  const a = sparkline(mean, { title: metric });
  const b = sparkline(rate, { title: I18N.t("messages") });
  b.classList.add("rate");
  sparkCache.set(device, [a, b]);
  for (const cell of document.querySelectorAll("td.spark")) {
    if (cell.dataset.device === device) cell.replaceChildren(a.cloneNode(true), b.cloneNode(true));
  }
}

function pump() {
  while (sparkRunning < SPARK_PARALLEL && sparkQueue.length) {
    const td = sparkQueue.shift();
    if (!td.isConnected || td.childElementCount || sparkCache.has(td.dataset.device)) continue;
    sparkRunning += 1;
    drawSpark(td).catch((err) => console.warn("sparkline", err)).finally(() => {
      sparkRunning -= 1;
      pump();
    });
  }
}

// Sparklines are fetched only for rows scrolled into view: a unit may have hundreds.
const observer = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    observer.unobserve(e.target);
    sparkQueue.push(e.target);
  }
  pump();
});

for (const th of document.querySelectorAll("#health th[data-key]")) {
  th.addEventListener("click", () => {
    sortDir = sortKey === th.dataset.key && sortDir === "asc" ? "desc" : "asc";
    sortKey = th.dataset.key;
    render();
  });
}
for (const id of ["search", "type", "state"]) {
  document.getElementById(id).addEventListener("input", render);
}

async function load() {
  try {
    const [health, devices] = await Promise.all([
      apiGet("/api/v1/health/devices"), apiGet("/api/v1/devices"), loadAlerts()]);
    for (const d of devices) locations.set(d.id, d.location);
    rows = health.map((r) => ({ ...r, place: placeText(locations.get(r.device)) }));
    const select = document.getElementById("type");
    for (const type of [...new Set(rows.map((r) => r.type))].sort()) {
      const opt = document.createElement("option");
      opt.value = type;
      opt.textContent = deviceTypeName(type);
      select.appendChild(opt);
    }
    document.body.dataset.loaded = "1";
    render();
  } catch (err) {
    const p = document.getElementById("error");
    p.hidden = false;
    p.textContent = String(err);
  }
}

I18N.init(DICT);
load();
setInterval(loadAlerts, ALERTS_EVERY_MS);
