// A small banner while the backend is not ready (GET /healthz answers 503 with a
// reason): a storage outage, during which ingest holds messages unacknowledged at
// the broker. Polled, since /healthz is cheap and needs no token.
"use strict";

(function readiness() {
  const POLL_MS = 5000;
  const LABEL = { zh: "存储故障，数据暂存于消息服务器：", en: "Storage outage, messages held at the broker: " };
  const el = document.getElementById("storage-banner");
  if (!el) return;

  async function poll() {
    try {
      const resp = await fetch("/healthz", { cache: "no-store" });
      if (resp.status === 503) {
        const body = await resp.json();
        const lang = (typeof I18N !== "undefined" && I18N.lang === "en") ? "en" : "zh";
        el.textContent = LABEL[lang] + (body.reason || "not ready");
        el.hidden = false;
      } else if (resp.ok) {
        el.hidden = true;
      }
    } catch (err) {
      console.warn("readiness poll failed", err);  // the stream banner covers a lost link
    }
    setTimeout(poll, POLL_MS);
  }
  poll();
})();
