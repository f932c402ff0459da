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
