// Guard-room board: the firing alerts of this token's scope, kept live over SSE.
// Plain script, no build step: it must run from the package on an offline console.
"use strict";

const RESOLVED_KEPT = 30;
const RETRY_MS = 5000;

const TEXT = {
  zh: {
    title: "告警值班板", logout: "退出", reconnecting: "连接中断，正在重连…",
    busy: "告警推送连接数已满，{s} 秒后自动重试",
    firing: "正在告警", resolved: "最近恢复", empty: "暂无告警",
    severity: "级别", type: "类型", device: "设备", building: "楼栋", location: "位置",
    started: "开始时间", summary: "摘要", status: "状态",
    ack: "确认", ackPrompt: "确认告警：请填写处置说明", ackFailed: "确认失败：",
    st_firing: "告警中", st_acked: "已确认", st_resolved: "已恢复",
    sev_critical: "紧急", sev_major: "重要", sev_minor: "次要", sev_warning: "警告", sev_info: "提示",
    all: "全部", snapshot: "抓拍", unmapped: "未登记点位", locale: "zh-CN",
  },
  en: {
    title: "Alert board", logout: "Sign out", reconnecting: "Connection lost, reconnecting…",
    busy: "Too many alert streams open; retrying in {s} s",
    firing: "Firing", resolved: "Recently resolved", empty: "No alerts",
    severity: "Severity", type: "Type", device: "Device", building: "Building",
    location: "Location", started: "Started", summary: "Summary", status: "Status",
    ack: "Ack", ackPrompt: "Acknowledge the alert: what was seen or done?",
    ackFailed: "Acknowledge failed: ",
    st_firing: "firing", st_acked: "acknowledged", st_resolved: "resolved",
    sev_critical: "critical", sev_major: "major", sev_minor: "minor", sev_warning: "warning",
    sev_info: "info", all: "All", snapshot: "snapshot", unmapped: "unmapped point",
    locale: "en-GB",
  },
};

const firing = new Map();
let resolved = [];
let lastSeq = null;
let source = null; // the open stream's AbortController
const canAck = document.body.dataset.role !== "maintenance";

function t(key) {
  return I18N.t(key);
}

function formatTime(iso) {
  return new Date(iso).toLocaleString(t("locale"), {
    timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
}

function statusText(a) {
  if (a.status === "resolved") return t("st_resolved");
  if (a.acked_by) return `${t("st_acked")} · ${a.acked_by} · ${formatTime(a.acked_at)}`;
  return t("st_firing");
}

// The rules write their summaries in Chinese; under the English switch the page says
// the same from the alert's own fields instead of mixing the two.
function summaryText(a) {
  if (I18N.lang !== "en") return a.summary;
  return a.value === null ? typeName(a.type) : `${typeName(a.type)}: ${a.value}`;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function buildingLabel(b) {
  return I18N.lang === "en" ? `Bldg ${b}` : /^\d+$/.test(b) ? `${b}号楼` : b;
}

function alertRow(a) {
  const row = document.createElement("tr");
  row.dataset.alertId = String(a.id);
  row.dataset.severity = a.severity;
  row.className = `sev-${a.severity}` + (a.acked_by ? " acked" : "");
  cell(row, t(`sev_${a.severity}`), "sev");
  cell(row, typeName(a.type), "type").title = a.type;
  const where = cell(row, placeText(a.location), "location");
  where.title = `${a.grid} · ${a.device}`; // the path only as a hint
  if (a.location && !a.location.mapped) where.appendChild(badge(t("unmapped")));
  cell(row, a.device, "device");
  cell(row, formatTime(a.started_at), "time");
  const summary = cell(row, summaryText(a), "summary");
  if (a.device_type === "camera") summary.appendChild(snapshotLink(a));
  const status = cell(row, statusText(a), "status");
  if (a.ack_note) status.appendChild(el("div", a.ack_note, "note"));
  const action = row.insertCell();
  action.className = "action";
  if (canAck && a.status === "firing" && !a.acked_by) {
    const button = el("button", t("ack"), "ack");
    button.type = "button";
    button.addEventListener("click", () => acknowledge(a.id));
    action.appendChild(button);
  }
  return row;
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  node.textContent = text;
  node.className = cls;
  return node;
}

function badge(text) {
  return el("span", text, "badge");
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
function refreshChoices(id, values, label) {
  const select = document.getElementById(id);
  const keep = select.value;
  const wanted = [...new Set([...values, ...(keep ? [keep] : [])])].sort();
  const options = wanted.map((v) => {
    const opt = document.createElement("option");
    opt.value = v;
    opt.textContent = label(v);
    return opt;
  });
  select.replaceChildren(select.options[0], ...options);
  select.value = keep;
}

function fill(table, alerts) {
  const body = table.tBodies[0];
  body.replaceChildren(...alerts.map(alertRow));
}

function render() {
  const all = [...firing.values(), ...resolved];
  refreshChoices("f-building", all.map((a) => a.building), buildingLabel);
  refreshChoices("f-type", all.map((a) => a.type), (v) => typeName(v));
  const list = [...firing.values()].filter(shown).sort(byUrgency);
  fill(document.getElementById("firing"), list);
  fill(document.getElementById("resolved"), resolved.filter(shown));
  document.getElementById("firing-count").textContent = String(list.length);
  document.getElementById("empty").hidden = list.length > 0;
  // The cue ignores the filters: a critical alert must never hide behind one.
  alarmUpdate([...firing.values()].filter((a) => a.severity === "critical" && !a.acked_by));
}

function upsert(a) {
  if (a.status === "resolved") {
    firing.delete(a.id);
    resolved = [a, ...resolved.filter((r) => r.id !== a.id)].slice(0, RESOLVED_KEPT);
  } else {
    firing.set(a.id, a);
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
  upsert(await resp.json());
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
  upsert(JSON.parse(data));
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
    for (const a of await resp.json()) upsert(a);
    if (seq !== null) lastSeq = seq;
    render();
    document.body.dataset.loaded = "1";
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
if (canAck) ALARM.onAck = acknowledge;
document.getElementById("resolved").prepend(document.getElementById("firing").tHead.cloneNode(true));
setInterval(() => {
  document.getElementById("clock").textContent = formatTime(new Date().toISOString());
}, 1000);

I18N.onChange.push(paintBanner, render);
I18N.init(TEXT);
restart();
