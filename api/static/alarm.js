// The critical alarm of the board and the ops page: a banner naming the newest
// unacknowledged critical alert (with its ack button, so a phone shows both without
// scrolling) and a tone repeated every REPEAT_MS until every critical alert is acked.
// Browsers may refuse sound until the page is touched; the page then says so and one
// click enables it. `window.gwSound.plays` counts the tones played (tests read it).
"use strict";

const ALARM = {
  REPEAT_MS: 4000,
  ctx: null,
  timer: null,
  newest: null, // the alert the banner shows
  onAck: null, // (alert id) => void, set by the page
  text: {
    zh: { cue: "紧急告警未确认", ack: "确认", blocked: "浏览器已阻止报警声音", enable: "点击开启声音" },
    en: { cue: "Unacknowledged critical alert", ack: "Ack", blocked: "The browser blocked the alarm sound",
      enable: "Click to enable sound" },
  },
};
window.gwSound = { plays: 0, blocked: false };

// The banner and the sound notice, right under the page's header (both pages alike).
(() => {
  const make = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    node.append(...children);
    return node;
  };
  const banner = make("div", { id: "critical", role: "alert", hidden: "" },
    make("span", { id: "critical-cue" }), " ", make("b", { id: "critical-what" }),
    make("button", { id: "critical-ack", class: "ack", type: "button", hidden: "" }));
  const sound = make("div", { id: "sound-blocked", role: "status", hidden: "" },
    make("span", { id: "sound-text" }), " ", make("button", { id: "sound-enable", type: "button" }));
  document.querySelector("header").after(banner, sound);
})();

function alarmText(key) {
  return ALARM.text[I18N.lang][key];
}

function alarmTone() {
  try {
    ALARM.ctx = ALARM.ctx ?? new AudioContext();
    if (ALARM.ctx.state !== "running") {
      ALARM.ctx.resume().catch(() => {});
      if (ALARM.ctx.state !== "running") return alarmBlocked(true);
    }
    alarmBlocked(false);
    for (const start of [0, 0.35]) {
      const osc = ALARM.ctx.createOscillator();
      const gain = ALARM.ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(ALARM.ctx.destination);
      osc.start(ALARM.ctx.currentTime + start);
      osc.stop(ALARM.ctx.currentTime + start + 0.25);
    }
    window.gwSound.plays += 1;
  } catch (err) {
    console.warn("no audio", err);
    alarmBlocked(true);
  }
}

function alarmBlocked(on) {
  window.gwSound.blocked = on;
  document.getElementById("sound-blocked").hidden = !on;
}

// `critical`: the unacknowledged critical alerts now firing (any order).
function alarmUpdate(critical) {
  const banner = document.getElementById("critical");
  const newest = [...critical].sort((a, b) => Date.parse(b.started_at) - Date.parse(a.started_at))[0];
  ALARM.newest = newest ?? null;
  banner.hidden = !newest;
  if (newest) {
    document.getElementById("critical-cue").textContent = `${alarmText("cue")} (${critical.length})`;
    document.getElementById("critical-what").textContent =
      `${typeName(newest.type)} · ${placeText(newest.location)}`;
    const ack = document.getElementById("critical-ack");
    ack.textContent = alarmText("ack");
    ack.dataset.alertId = String(newest.id);
    ack.hidden = !ALARM.onAck;
  }
  document.getElementById("sound-text").textContent = alarmText("blocked");
  document.getElementById("sound-enable").textContent = alarmText("enable");
  if (newest && ALARM.timer === null) {
    alarmTone();
    ALARM.timer = setInterval(alarmTone, ALARM.REPEAT_MS);
  } else if (!newest && ALARM.timer !== null) {
    clearInterval(ALARM.timer);
    ALARM.timer = null;
    alarmBlocked(false);
  }
}

document.getElementById("critical-ack").addEventListener("click", () => {
  if (ALARM.newest && ALARM.onAck) ALARM.onAck(ALARM.newest.id);
});
document.getElementById("sound-enable").addEventListener("click", () => {
  ALARM.ctx = ALARM.ctx ?? new AudioContext();
  ALARM.ctx.resume().then(() => {
    alarmBlocked(false);
    if (ALARM.timer !== null) alarmTone();
  }).catch(() => {});
});
// Any touch of the page counts as the permission browsers wait for.
document.addEventListener("pointerdown", () => {
  if (ALARM.ctx && ALARM.ctx.state === "suspended") ALARM.ctx.resume().catch(() => {});
});
