// Inline SVG sparklines, drawn from /api/v1/readings: no charting library needed.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function sparkline(values, { width = 110, height = 22, title = "" } = {}) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("class", "spark");
  if (title) {
    const t = document.createElementNS(SVG_NS, "title");
    t.textContent = title;
    svg.appendChild(t);
  }
  const finite = values.filter((v) => v !== null && Number.isFinite(v));
  if (finite.length === 0) {
    svg.classList.add("empty");
    return svg;
  }
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const span = hi - lo || 1;
  const dx = values.length > 1 ? width / (values.length - 1) : 0;
  // A missing bucket breaks the line, so a silence shows as a hole, not a slope.
  let path = "";
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) { pen = false; return; }
    const x = (i * dx).toFixed(1);
    const y = (height - 2 - ((v - lo) / span) * (height - 4)).toFixed(1);
    path += `${pen ? "L" : "M"}${x} ${y} `;
    pen = true;
  });
  const line = document.createElementNS(SVG_NS, "path");
  line.setAttribute("d", path.trim() || `M0 ${height / 2}`);
  svg.appendChild(line);
  return svg;
}

// Bucket points [{ts, value}] into `n` slots of `step` s from `start`:
// the mean per slot, and the count per slot (the message rate).
function buckets(points, start, step, n) {
  const sum = new Array(n).fill(0);
  const count = new Array(n).fill(0);
  for (const p of points) {
    const i = Math.floor((p.ts - start) / step);
    if (i >= 0 && i < n) { sum[i] += p.value; count[i] += 1; }
  }
  return { mean: sum.map((s, i) => (count[i] ? s / count[i] : null)), count };
}
