// One device's readings, each metric its own chart over 24 h or 7 days, drawn with the
// vendored uPlot (uPlot.LICENSE.txt) from /api/v1/readings, averaged by the server per
// `step` so that a week is still a few hundred points.
"use strict";

const METRICS = {
  camera: ["fps", "people_count", "vehicle_count"],
  elevator: ["vibration_rms_g", "speed_mps", "floor", "door_open"],
  smoke_detector: ["smoke_obscuration_pct_m", "battery_pct"],
  heat_detector: ["temperature_c", "battery_pct"],
  gas_detector: ["co_ppm", "battery_pct"],
  hydrant_pressure: ["water_pressure_mpa"],
  sprinkler_pressure: ["water_pressure_mpa"],
  water_tank: ["water_level_m"],
  fire_panel: ["battery_pct"],
  fire_pump: ["outlet_pressure_mpa", "inlet_pressure_mpa", "motor_current_a", "motor_temp_c",
    "vibration_mm_s"],
};
const METRIC_NAMES = {
  fps: ["帧率", "frames/s"], people_count: ["人数", "people"], vehicle_count: ["车辆数", "vehicles"],
  vibration_rms_g: ["振动 (g)", "vibration (g)"], speed_mps: ["速度 (m/s)", "speed (m/s)"],
  floor: ["楼层", "floor"], door_open: ["开门", "door open"],
  smoke_obscuration_pct_m: ["烟雾浓度 (%/m)", "smoke (%/m)"], battery_pct: ["电量 (%)", "battery (%)"],
  temperature_c: ["温度 (°C)", "temperature (°C)"], co_ppm: ["一氧化碳 (ppm)", "CO (ppm)"],
  water_pressure_mpa: ["水压 (MPa)", "water pressure (MPa)"], water_level_m: ["水位 (m)", "water level (m)"],
  outlet_pressure_mpa: ["出口压力 (MPa)", "outlet pressure (MPa)"],
  inlet_pressure_mpa: ["进口压力 (MPa)", "inlet pressure (MPa)"],
  motor_current_a: ["电机电流 (A)", "motor current (A)"], motor_temp_c: ["电机温度 (°C)", "motor temperature (°C)"],
  vibration_mm_s: ["振动 (mm/s)", "vibration (mm/s)"],
};
const POINTS_PER_CHART = 240;

function metricName(metric) {
  const pair = METRIC_NAMES[metric];
  return pair ? pair[I18N.lang === "en" ? 1 : 0] : metric;
}
const CHART = { device: null, type: null, range: 86400, plots: [] };

async function drawCharts() {
  const { device, type, range } = CHART;
  for (const plot of CHART.plots) plot.destroy();
  CHART.plots = [];
  const box = document.getElementById("charts");
  box.replaceChildren();
  const end = Math.floor(Date.now() / 1000);
  const step = Math.max(60, Math.round(range / POINTS_PER_CHART));
  const start = end - range;
  let drawn = 0;
  for (const metric of METRICS[type] ?? ["battery_pct"]) {
    const q = `/api/v1/readings?device=${encodeURIComponent(device)}&metric=${metric}` +
      `&start=${start}&end=${end}&step=${step}`;
    const series = await apiGet(q);
    if (CHART.device !== device || CHART.range !== range) return; // another was asked for
    if (!series.points.length) continue;
    const xs = series.points.map((p) => p.ts);
    const ys = series.points.map((p) => p.value);
    const holder = document.createElement("div");
    holder.className = "chart";
    holder.dataset.metric = metric;
    box.appendChild(holder);
    const width = Math.max(280, box.clientWidth - 8);
    CHART.plots.push(new uPlot({
      width, height: 150, title: metricName(metric),
      // The whole period, not just the span of the points: a device silent for most of
      // it must look so.
      scales: { x: { time: true, range: [start, end] } },
      series: [{}, { label: metricName(metric), stroke: "#2f6fde", width: 1.5, spanGaps: false }],
      axes: [{}, { size: 56 }],
    }, [xs, ys], holder));
    drawn += 1;
  }
  document.getElementById("chart-empty").hidden = drawn > 0;
}

function openChart(device, type) {
  Object.assign(CHART, { device, type });
  const section = document.getElementById("chart");
  section.hidden = false;
  section.scrollIntoView({ block: "start" });
  redrawChart();
}

function redrawChart() {
  if (CHART.device === null) return;
  document.getElementById("chart-title").textContent =
    I18N.t("chartOf").replace("{device}", CHART.device);
  drawCharts().catch((err) => console.warn("chart", err));
}

I18N.onChange.push(redrawChart);

for (const button of document.querySelectorAll("#chart button[data-range]")) {
  button.addEventListener("click", () => {
    CHART.range = Number(button.dataset.range);
    redrawChart();
  });
}
document.getElementById("chart-close").addEventListener("click", () => {
  document.getElementById("chart").hidden = true;
  for (const plot of CHART.plots) plot.destroy();
  CHART.plots = [];
  CHART.device = null;
});
