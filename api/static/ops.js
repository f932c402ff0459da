// Operations centre: the grid tree with firing counts per node and the firing alerts
// (both kept live over SSE), and the incident queue with its lifecycle actions.
"use strict";

// Mirrors store.opstate_incidents.TRANSITIONS; the server still decides (409 + reason).
const NEXT = {
  open: ["dispatched", "acknowledged", "resolved"],
  dispatched: ["acknowledged", "resolved"],
  acknowledged: ["dispatched", "resolved"],
  resolved: ["closed", "dispatched"],
  closed: [],
};
const RETRY_MS = 5000;

I18N.onChange.push(() => renderAll());
const DICT = {
  zh: {
    title: "街道运营中心", logout: "退出", board: "告警值班板", health: "设备健康",
    reconnecting: "连接中断，正在重连…", tree: "网格 (1-4-27-60) 告警数", firing: "正在告警",
    severity: "级别", type: "类型", device: "设备", grid: "网格", started: "开始时间",
    status: "状态", incident: "事件", queue: "事件处置队列", active: "未关闭",
    noIncidents: "暂无事件", history: "处置记录", alerts: "关联告警",
    st_open: "待派单", st_dispatched: "已派单", st_acknowledged: "已接单", st_resolved: "已处置",
    st_closed: "已关闭", do_dispatched: "派单", do_acknowledged: "接单确认", do_resolved: "处置完成",
    do_closed: "结案", notePrompt: "请填写说明（派单单位、处置情况等）", failed: "操作失败：",
    firingSt: "告警中", ackedSt: "已确认", all: "全街道", location: "位置", timeline: "事件经过",
    sev_critical: "紧急", sev_major: "重要", sev_minor: "次要", sev_warning: "警告", sev_info: "提示",
    falseAlarm: "误报结案", falsePrompt: "误报原因（必填）", ack: "确认", ackPrompt: "确认告警：请填写处置说明",
    since: "已持续", toAck: "确认用时", target: "目标", notAcked: "尚未确认", overTarget: "超时",
    falseClosed: "误报", reason: "原因",
    k_opened: "立案", k_alert_joined: "告警并入", k_alert_acked: "告警确认", k_escalated: "升级",
    k_transition: "状态变更", k_alert_resolved: "告警恢复", k_false_alarm: "误报结案",
    "lv_micro-grid": "微网格", lv_area: "居民区", lv_district: "片区",
    lv_operations_centre: "街道运营中心",
    min: "分", sec: "秒", hour: "小时",
  },
  en: {
    title: "Street operations centre", logout: "Sign out", board: "Alert board",
    health: "Device health", reconnecting: "Connection lost, reconnecting…",
    tree: "Grid (1-4-27-60) firing counts", firing: "Firing", severity: "Severity", type: "Type",
    device: "Device", grid: "Grid", started: "Started", status: "Status", incident: "Incident",
    queue: "Incident queue", active: "Not closed", noIncidents: "No incidents",
    history: "History", alerts: "Alerts", st_open: "open", st_dispatched: "dispatched",
    st_acknowledged: "acknowledged", st_resolved: "resolved", st_closed: "closed",
    do_dispatched: "Dispatch", do_acknowledged: "Acknowledge", do_resolved: "Resolve",
    do_closed: "Close", notePrompt: "Note (unit dispatched to, what was done…)",
    failed: "Failed: ", firingSt: "firing", ackedSt: "acknowledged", all: "whole street",
    sev_critical: "critical", sev_major: "major", sev_minor: "minor", sev_warning: "warning",
    sev_info: "info", location: "Location", timeline: "Timeline",
    falseAlarm: "Close as false alarm", falsePrompt: "Why is it a false alarm? (required)",
    ack: "Ack", ackPrompt: "Acknowledge the alert: what was seen or done?",
    since: "Running", toAck: "Time to ack", target: "target", notAcked: "not acknowledged",
    overTarget: "over target", falseClosed: "false alarm", reason: "reason",
    k_opened: "opened", k_alert_joined: "alert joined", k_alert_acked: "alert acknowledged",
    k_escalated: "escalated", k_transition: "status change", k_alert_resolved: "alert resolved",
    k_false_alarm: "closed as false alarm", "lv_micro-grid": "micro-grid", lv_area: "area",
    lv_district: "district", lv_operations_centre: "operations centre",
    min: "min", sec: "s", hour: "h",
  },
};

let roots = [];
const alerts = new Map(); // firing alerts by id
let incidents = [];
let selected = null; // grid path filter from the tree
let lastSeq = null;
let source = null;
const canAct = ["ops", "admin"].includes(document.body.dataset.role);

function inScope(grid, path) {
  return path === null || grid === path || grid.startsWith(path + "/");
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function renderTree() {
  const firing = [...alerts.values()];
  const build = (node) => {
    const li = el("li");
    const row = el("div", undefined, `kind-${node.kind}` + (selected === node.path ? " selected" : ""));
    row.dataset.path = node.path;
    const n = firing.filter((a) => inScope(a.grid, node.path)).length;
    row.append(el("span", I18N.lang === "en" && node.name_en ? node.name_en : node.name),
      el("span", String(n), n ? "count hot" : "count"));
    row.addEventListener("click", () => {
      selected = selected === node.path ? null : node.path;
      renderAll();
    });
    li.appendChild(row);
    if (node.children.length) {
      const ul = el("ul");
      ul.append(...node.children.map(build));
      li.appendChild(ul);
    }
    return li;
  };
  const ul = el("ul");
  ul.append(...roots.map(build));
  document.getElementById("tree").replaceChildren(ul);
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}${I18N.t("sec")}`;
  if (s < 3600) return `${Math.floor(s / 60)}${I18N.t("min")}${s % 60}${I18N.t("sec")}`;
  return `${Math.floor(s / 3600)}${I18N.t("hour")}${Math.floor((s % 3600) / 60)}${I18N.t("min")}`;
}

function ackText(a) {
  if (!a.acked_by) return I18N.t("firingSt");
  return `${I18N.t("ackedSt")} · ${a.acked_by} · ${I18N.time(a.acked_at)}`;
}

function renderAlerts() {
  document.getElementById("selected").textContent = selected ?? I18N.t("all");
  const list = [...alerts.values()].filter((a) => inScope(a.grid, selected)).sort(byUrgency);
  const rows = list.map((a) => {
    const tr = el("tr", undefined, `sev-${a.severity}` + (a.acked_by ? " acked" : ""));
    tr.dataset.alertId = String(a.id);
    for (const [text, cls] of [[I18N.t(`sev_${a.severity}`), "sev"], [typeName(a.type), "type"],
      [placeText(a.location), "location"], [a.device, "device"], [I18N.time(a.started_at), "time"],
      [ackText(a), "status"], [a.incident_id ? `#${a.incident_id}` : "", "incident"]]) {
      tr.appendChild(el("td", String(text), cls));
    }
    tr.querySelector("td.location").title = `${a.grid} · ${a.device}`;
    if (a.ack_note) tr.querySelector("td.status").appendChild(el("div", a.ack_note, "note"));
    const action = el("td", undefined, "action");
    if (canAct && !a.acked_by) {
      const button = el("button", I18N.t("ack"), "ack");
      button.type = "button";
      button.addEventListener("click", () => acknowledge(a.id));
      action.appendChild(button);
    }
    tr.appendChild(action);
    return tr;
  });
  document.querySelector("#alerts tbody").replaceChildren(...rows);
  alarmUpdate([...alerts.values()].filter((a) => a.severity === "critical" && !a.acked_by));
}

// "：" in Chinese, ": " in English.
function sep() {
  return I18N.lang === "en" ? ": " : "：";
}

// The summaries in notes are the rules' Chinese; in English the alert's type says it.
const SUMMARY_KINDS = new Set(["opened", "alert_joined", "alert_resolved"]);

function timelineLine(t) {
  let note = t.note || "";
  if (I18N.lang === "en" && SUMMARY_KINDS.has(t.kind)) {
    const a = alerts.get(t.alert_id);
    note = a ? typeName(a.type) : "";
  }
  if (t.kind === "escalated") {
    const [level, who] = note.split(": ");
    note = `${I18N.t(`lv_${level.replace(" ", "_")}`)}${sep()}${who ?? ""}`;
  } else if (t.kind === "transition") {
    note = note.replace(/^(\w+) → (\w+)/, (_, a, b) => `${I18N.t(`st_${a}`)} → ${I18N.t(`st_${b}`)}`);
  }
  const alert = t.alert_id ? ` #${t.alert_id}` : "";
  const who = t.by && t.by !== "dispatch" ? ` ${t.by}` : "";
  return `${I18N.time(t.at)} ${I18N.t(`k_${t.kind}`)}${alert}${who}${note ? `${sep()}${note}` : ""}`;
}

function clockLine(inc) {
  const since = (Date.now() - Date.parse(inc.created_at)) / 1000;
  const parts = [`${I18N.t("since")} ${duration(since)}`];
  const target = inc.ack_target_s;
  if (inc.time_to_ack_s !== null) {
    const over = target && inc.time_to_ack_s > target;
    parts.push(`${I18N.t("toAck")} ${duration(inc.time_to_ack_s)}` +
      (target ? ` / ${I18N.t("target")} ${duration(target)}` : "") + (over ? ` · ${I18N.t("overTarget")}` : ""));
  } else {
    const over = target && since > target && inc.status !== "closed";
    parts.push(`${I18N.t("notAcked")}` + (target ? ` / ${I18N.t("target")} ${duration(target)}` : "") +
      (over ? ` · ${I18N.t("overTarget")}` : ""));
  }
  return parts.join(" · ");
}

function incidentCard(inc) {
  const card = el("div", undefined, `incident sev-${inc.severity}`);
  card.dataset.incidentId = String(inc.id);
  card.dataset.status = inc.status;
  const title = (I18N.lang === "en" ? inc.title_en : inc.title) || `#${inc.id}`;
  const head = el("div", undefined, "head");
  head.append(el("b", `#${inc.id}`), el("span", I18N.t(`sev_${inc.severity}`), `sev sev-${inc.severity}`),
    el("b", title, "title"), el("span", I18N.t(`st_${inc.status}`), `status ${inc.status}`));
  if (inc.false_alarm) head.appendChild(el("span", I18N.t("falseClosed"), "badge"));
  const actions = el("div", undefined, "actions");
  for (const to of canAct ? NEXT[inc.status] ?? [] : []) {
    const button = el("button", I18N.t(`do_${to}`));
    button.type = "button";
    button.dataset.to = to;
    button.addEventListener("click", () => transition(inc.id, to));
    actions.appendChild(button);
  }
  if (canAct && inc.status !== "closed") {
    const button = el("button", I18N.t("falseAlarm"), "false-alarm");
    button.type = "button";
    button.addEventListener("click", () => closeFalseAlarm(inc.id));
    actions.appendChild(button);
  }
  const where = el("div", `${I18N.t("location")}${sep()}${placeText(inc.location)}`, "where");
  where.title = inc.grid;
  const clock = el("div", clockLine(inc), "clock");
  clock.dataset.created = inc.created_at;
  const linked = inc.alerts.map((id) => {
    const a = alerts.get(id);
    return a ? `#${id} ${typeName(a.type)}` : `#${id}`;
  });
  const timeline = el("ol", undefined, "timeline");
  timeline.append(...(inc.timeline ?? []).map((t) => {
    const li = el("li", timelineLine(t), `k-${t.kind}`);
    li.dataset.kind = t.kind;
    return li;
  }));
  card.append(head, where, clock, el("div", `${I18N.t("alerts")}: ${linked.join(", ")}`, "linked"));
  if (inc.close_reason) card.append(el("div", `${I18N.t("reason")}${sep()}${inc.close_reason}`, "reason"));
  card.append(actions, el("div", I18N.t("timeline"), "history-title"), timeline);
  return card;
}

function renderQueue() {
  const shown = incidents.filter((i) => inScope(i.grid, selected)).sort((a, b) =>
    (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) ||
    Date.parse(b.created_at) - Date.parse(a.created_at));
  document.getElementById("queue").replaceChildren(...shown.map(incidentCard));
  document.getElementById("queue-empty").hidden = shown.length > 0;
}

function renderAll() {
  renderTree();
  renderAlerts();
  renderQueue();
}

// Loads overlap (a transition reloads while the queue filter changes): only the
// newest request's answer is shown, or an older one, arriving last, would put back a
// queue the user has already left (a closed incident vanished from the "closed" view).
let incidentsRequest = 0;

async function loadIncidents() {
  const status = document.getElementById("queue-status").value;
  const request = ++incidentsRequest;
  let found;
  try {
    found = await apiGet(`/api/v1/incidents?limit=200${status ? `&status=${status}` : ""}`);
    found = status ? found : found.filter((i) => i.status !== "closed");
  } catch (err) {
    console.warn("incidents", err); // e.g. 403 for a maintenance unit: no queue for it
    found = [];
  }
  if (request !== incidentsRequest) return;
  incidents = found;
  renderQueue();
}

async function transition(id, to) {
  const note = window.prompt(I18N.t("notePrompt"), "");
  if (note === null) return;
  await post(`/api/v1/incidents/${id}/transition`, { to, note });
  await loadIncidents();
}

async function post(path, body) {
  const resp = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (resp.status === 401) location.href = "/ui/";
  if (!resp.ok) {
    const answer = await resp.json().catch(() => ({}));
    window.alert(I18N.t("failed") + JSON.stringify(answer.detail ?? resp.status));
    return null;
  }
  return resp.json();
}

async function acknowledge(id) {
  const note = window.prompt(I18N.t("ackPrompt"), "");
  if (note === null) return;
  const acked = await post(`/api/v1/alerts/${id}/ack`, { note });
  if (acked) upsert(acked);
  renderAlerts();
  await loadIncidents();
}

async function closeFalseAlarm(id) {
  const reason = window.prompt(I18N.t("falsePrompt"), "");
  if (reason === null || !reason.trim()) return;
  await post(`/api/v1/incidents/${id}/transition`, { to: "closed", false_alarm: true, note: reason });
  await loadIncidents();
}

function upsert(a) {
  if (a.status === "resolved") alerts.delete(a.id);
  else alerts.set(a.id, a);
}

function openStream() {
  const query = lastSeq === null ? "" : `?last_event_id=${encodeURIComponent(lastSeq)}`;
  source = new EventSource(`/api/v1/alerts/stream${query}`);
  source.addEventListener("open", () => { document.getElementById("banner").hidden = true; });
  source.addEventListener("alert", (ev) => {
    lastSeq = ev.lastEventId || lastSeq;
    const a = JSON.parse(ev.data);
    upsert(a);
    renderTree();
    renderAlerts();
    // A new incident, or an alert joining one, shows in the queue at once.
    if (a.incident_id !== null) loadIncidents().catch((err) => console.warn(err));
  });
  source.addEventListener("error", () => {
    document.getElementById("banner").hidden = false;
    if (source.readyState === EventSource.CLOSED) setTimeout(start, RETRY_MS);
  });
}

async function start() {
  try {
    if (source) source.close();
    roots = await apiGet("/api/v1/grids");
    const resp = await fetch("/api/v1/alerts?status=firing&limit=1000", { credentials: "same-origin" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const seq = resp.headers.get("X-Log-Seq");
    alerts.clear();
    for (const a of await resp.json()) upsert(a);
    if (seq !== null) lastSeq = seq;
    renderAll();
    await loadIncidents();
    document.body.dataset.loaded = "1";
    openStream();
  } catch (err) {
    console.warn("ops load failed", err);
    document.getElementById("banner").hidden = false;
    setTimeout(start, RETRY_MS);
  }
}

document.getElementById("queue-status").addEventListener("change", () => loadIncidents());
if (canAct) ALARM.onAck = acknowledge;
// The running clocks of the incident cards.
setInterval(() => {
  for (const node of document.querySelectorAll(".incident .clock")) {
    const inc = incidents.find((i) => String(i.id) === node.parentElement.dataset.incidentId);
    if (inc) node.textContent = clockLine(inc);
  }
}, 1000);
I18N.init(DICT);
start();
