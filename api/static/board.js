// Guard-room board: the firing alerts of this token's scope, kept live over SSE.
// Plain script, no build step: it must run from the package on an offline console.
"use strict";

const SEVERITY_RANK = { critical: 0, major: 1, minor: 2, warning: 3, info: 4 };
const RESOLVED_KEPT = 30;
const RETRY_MS = 5000;

const TEXT = {
  zh: {
    title: "告警值班板", logout: "退出", reconnecting: "连接中断，正在重连…",
    busy: "告警推送连接数已满，{s} 秒后自动重试",
    firing: "正在告警", resolved: "最近恢复", empty: "暂无告警",
    severity: "级别", type: "类型", device: "设备", building: "楼栋", grid: "网格",
    started: "开始时间", summary: "摘要", status: "状态",
    ack: "确认", ackPrompt: "确认告警：请填写处置说明", ackFailed: "确认失败：",
    st_firing: "告警中", st_acked: "已确认", st_resolved: "已恢复",
    sev_critical: "紧急", sev_major: "重要", sev_minor: "次要", sev_warning: "警告", sev_info: "提示",
    all: "全部", criticalCue: "紧急告警未确认：", snapshot: "抓拍",
    lang: "EN", locale: "zh-CN",
  },
  en: {
    title: "Alert board", logout: "Sign out", reconnecting: "Connection lost, reconnecting…",
    busy: "Too many alert streams open; retrying in {s} s",
    firing: "Firing", resolved: "Recently resolved", empty: "No alerts",
    severity: "Severity", type: "Type", device: "Device", building: "Building", grid: "Grid",
    started: "Started", summary: "Summary", status: "Status",
    ack: "Ack", ackPrompt: "Acknowledge the alert: what was seen or done?",
    ackFailed: "Acknowledge failed: ",
    st_firing: "firing", st_acked: "acknowledged", st_resolved: "resolved",
    sev_critical: "critical", sev_major: "major", sev_minor: "minor", sev_warning: "warning",
    sev_info: "info",
    all: "All", criticalCue: "Unacknowledged critical alerts: ", snapshot: "snapshot",
    lang: "中文", locale: "en-GB",
  },
};

// Chinese names of the contract's alert types; anything else shows its dotted name.
const TYPE_ZH = {
  "fire.alarm": "火警", "fire.fault": "消防故障", "fire.supervisory": "消防监管",
  "fire.disabled": "消防屏蔽", "fire.power_fault": "消防电源故障", "fire.smoke": "烟雾",
  "elevator.trapped": "电梯困人", "elevator.door_open_moving": "开门走梯",
  "elevator.overtravel_top": "冲顶", "elevator.overtravel_bottom": "蹲底",
  "elevator.overspeed": "电梯超速", "elevator.stop_outside_door_zone": "非平层停梯",
  "elevator.power_loss": "电梯停电", "elevator.safety_circuit_open": "安全回路断开",
  "elevator.door_fault": "门故障", "elevator.emergency_call": "电梯紧急呼叫",
  "elevator.ebike": "电瓶车进电梯",
  "camera.intrusion": "区域入侵", "camera.loitering": "徘徊", "camera.line_crossing": "越线",
  "camera.vehicle_dwell": "违章停车", "camera.fire_lane_blocked": "消防通道占用",
  "camera.falling_object": "高空抛物", "camera.smoke": "视频烟火", "camera.tamper": "摄像头遮挡",
  "device.offline": "设备离线",
};

const firing = new Map();
let resolved = [];
let lang = localStorage.getItem("gw.lang") === "en" ? "en" : "zh";
let lastSeq = null;
let source = null; // the open stream's AbortController
let audio = null;
const canAck = document.body.dataset.role !== "maintenance";

function t(key) {
  return TEXT[lang][key] ?? key;
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  document.getElementById("lang").textContent = t("lang");
  paintBanner();
  render();
}

function formatTime(iso) {
  return new Date(iso).toLocaleString(t("locale"), {
    timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
}

function statusText(a) {
  if (a.status === "resolved") return t("st_resolved");
  if (a.acked_by) return `${t("st_acked")} · ${a.acked_by}`;
  return t("st_firing");
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function alertRow(a) {
  const row = document.createElement("tr");
  row.dataset.alertId = String(a.id);
  row.dataset.severity = a.severity;
  row.className = `sev-${a.severity}` + (a.acked_by ? " acked" : "");
  cell(row, t(`sev_${a.severity}`), "sev");
  cell(row, lang === "zh" ? TYPE_ZH[a.type] ?? a.type : a.type, "type").title = a.type;
  cell(row, a.device, "device");
  cell(row, a.building, "building");
  cell(row, a.grid, "grid");
  cell(row, formatTime(a.started_at), "time");
  const summary = cell(row, a.summary, "summary");
  if (a.device_type === "camera") summary.appendChild(snapshotLink(a));
  cell(row, statusText(a), "status");
  const action = row.insertCell();
  if (canAck && a.status === "firing" && !a.acked_by) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "ack";
    button.textContent = t("ack");
    button.addEventListener("click", () => acknowledge(a.id));
    action.appendChild(button);
  }
  return row;
}

// The camera's snapshot of the alert, if it has one: a 404 (none, or not ours) just
// removes the thumbnail.
function snapshotLink(a) {
  const link = document.createElement("a");
  link.href = `/api/v1/alerts/${a.id}/snapshot`;
  link.target = "_blank";
  link.title = t("snapshot");
  const img = document.createElement("img");
  img.className = "snap";
  img.alt = t("snapshot");
  img.loading = "lazy";
  img.src = link.href;
  img.addEventListener("error", () => link.remove());
  link.appendChild(img);
  return link;
}

function shown(a) {
  const building = document.getElementById("f-building").value;
  const type = document.getElementById("f-type").value;
  return (!building || a.building === building) && (!type || a.type === type);
}

// Keeps each filter's choices to what the alerts on the board carry (and the choice made).
function refreshChoices(id, values) {
  const select = document.getElementById(id);
  const keep = select.value;
  const wanted = [...new Set([...values, ...(keep ? [keep] : [])])].sort();
  const options = wanted.map((v) => {
    const opt = document.createElement("option");
    opt.value = v;
    opt.textContent = id === "f-type" && lang === "zh" ? TYPE_ZH[v] ?? v : v;
    return opt;
  });
  select.replaceChildren(select.options[0], ...options);
  select.value = keep;
}

function byUrgency(a, b) {
  const rank = (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9);
  return rank !== 0 ? rank : Date.parse(b.started_at) - Date.parse(a.started_at);
}

function fill(table, alerts) {
  const body = table.tBodies[0];
  body.replaceChildren(...alerts.map(alertRow));
}

function render() {
  const all = [...firing.values(), ...resolved];
  refreshChoices("f-building", all.map((a) => a.building));
  refreshChoices("f-type", all.map((a) => a.type));
  const list = [...firing.values()].filter(shown).sort(byUrgency);
  fill(document.getElementById("firing"), list);
  fill(document.getElementById("resolved"), resolved.filter(shown));
  document.getElementById("firing-count").textContent = String(list.length);
  document.getElementById("empty").hidden = list.length > 0;
  // The visible cue ignores the filters: a critical alert must never hide behind one.
  const critical = [...firing.values()].filter((a) => a.severity === "critical" && !a.acked_by);
  document.getElementById("critical-count").textContent = String(critical.length);
  document.getElementById("critical").hidden = critical.length === 0;
}

function beep() {
  // Browsers keep audio suspended until the page is touched once; the first click
  // anywhere resumes it (see below), so the console should be clicked after loading.
  try {
    audio = audio ?? new AudioContext();
    for (const start of [0, 0.35]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + start);
      osc.stop(audio.currentTime + start + 0.25);
    }
  } catch (err) {
    console.warn("no audio", err);
  }
}

function upsert(a, live) {
  const known = firing.has(a.id);
  if (a.status === "resolved") {
    firing.delete(a.id);
    resolved = [a, ...resolved.filter((r) => r.id !== a.id)].slice(0, RESOLVED_KEPT);
  } else {
    firing.set(a.id, a);
    if (live && !known && a.severity === "critical") beep();
  }
}

async function acknowledge(id) {
  const note = window.prompt(t("ackPrompt"), "");
  if (note === null) return;
  const resp = await fetch(`/api/v1/alerts/${id}/ack`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ note }),
  });
  if (resp.status === 401) return void (location.href = "/ui/");
  if (!resp.ok) {
    const body = await resp.json().catch(() => ({}));
    window.alert(t("ackFailed") + JSON.stringify(body.detail ?? resp.status));
    return;
  }
  upsert(await resp.json(), false);
  render();
}

let bannerText = ["reconnecting", ""]; // its TEXT key, and the seconds for "{s}"

function paintBanner() {
  document.getElementById("banner").textContent =
    t(bannerText[0]).replace("{s}", bannerText[1]);
}

function showBanner(on, key = "reconnecting", secs = "", title = "") {
  const banner = document.getElementById("banner");
  bannerText = [key, secs];
  paintBanner();
  banner.title = title;
  banner.hidden = !on;
}

// Seconds (or an HTTP date) from Retry-After; the board's own delay when absent.
function retryAfterMs(header) {
  const secs = Number(header);
  if (header && Number.isFinite(secs)) return Math.max(1, secs) * 1000;
  const at = Date.parse(header ?? "");
  return Number.isNaN(at) ? RETRY_MS : Math.max(1000, at - Date.now());
}

// The stream is read with fetch, not EventSource: EventSource hides the status, and a
// refused stream (429) must show why and wait as long as the server asks.
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer = (buffer + value).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const fields = { event: "message", data: [], id: null };
      for (const line of buffer.slice(0, end).split("\n")) {
        if (line.startsWith(":")) continue; // a keep-alive comment
        const at = line.indexOf(":");
        const key = at < 0 ? line : line.slice(0, at);
        const val = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
        if (key === "data") fields.data.push(val);
        else if (key === "event" || key === "id") fields[key] = val;
      }
      buffer = buffer.slice(end + 2);
      if (fields.data.length) onEvent(fields.event, fields.data.join("\n"), fields.id);
    }
  }
}

function onStreamEvent(event, data, id) {
  if (event !== "alert") return; // "closed": the token ended; the reconnect says so
  lastSeq = id || lastSeq;
  upsert(JSON.parse(data), true);
  render();
}

async function openStream() {
  const query = lastSeq === null ? "" : `?last_event_id=${encodeURIComponent(lastSeq)}`;
  const mine = new AbortController();
  source = mine;
  try {
    const resp = await fetch(`/api/v1/alerts/stream${query}`, {
      credentials: "same-origin", headers: { Accept: "text/event-stream" }, signal: mine.signal,
    });
    if (resp.status === 401) return void (location.href = "/ui/");
    if (resp.status === 429) {
      const wait = retryAfterMs(resp.headers.get("Retry-After"));
      const body = await resp.json().catch(() => ({}));
      showBanner(true, "busy", String(Math.round(wait / 1000)), body.detail ?? "");
      setTimeout(restart, wait);
      return;
    }
    if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
    showBanner(false);
    await readEvents(resp.body, onStreamEvent);
  } catch (err) {
    if (mine.signal.aborted) return; // restart() replaced this stream
    console.info("alert stream dropped", err);
  }
  if (source !== mine) return;
  // Dropped or ended: start over (the list, then the stream after its log position).
  showBanner(true);
  setTimeout(restart, RETRY_MS);
}

async function restart() {
  try {
    if (source) source.abort();
    const resp = await fetch("/api/v1/alerts?status=firing&limit=1000", {
      credentials: "same-origin",
    });
    if (resp.status === 401) return void (location.href = "/ui/");
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    // The log position before the list was read: the stream resumes from it, so
    // nothing that changed in between is missed.
    const seq = resp.headers.get("X-Log-Seq");
    firing.clear();
    for (const a of await resp.json()) upsert(a, false);
    if (seq !== null) lastSeq = seq;
    render();
    openStream();
  } catch (err) {
    console.warn("board load failed", err);
    showBanner(true);
    setTimeout(restart, RETRY_MS);
  }
}

for (const id of ["f-building", "f-type"]) {
  document.getElementById(id).addEventListener("change", render);
}
document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("gw.lang", lang);
  applyLanguage();
});
document.addEventListener("click", () => {
  audio = audio ?? new AudioContext();
  if (audio.state === "suspended") audio.resume();
});
document.getElementById("resolved").prepend(document.getElementById("firing").tHead.cloneNode(true));
setInterval(() => {
  document.getElementById("clock").textContent = formatTime(new Date().toISOString());
}, 1000);

applyLanguage();
restart();
