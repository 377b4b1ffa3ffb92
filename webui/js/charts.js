// Two small SVG charts, no libraries: finished tasks per hour, and per-tool durations.
import { el, svg } from "./dom.js";
import { duration, parseTime } from "./format.js";

const pad2 = (n) => String(n).padStart(2, "0");

/** An axis for counts: whole-number steps (1, 2, 5 × 10^n), at most 5 of them. */
function countAxis(value) {
  let step = 1;
  for (let magnitude = 1; ; magnitude *= 10) {
    const found = [1, 2, 5].find((f) => f * magnitude * 5 >= value);
    if (found) {
      step = found * magnitude;
      break;
    }
  }
  const ticks = Math.max(1, Math.ceil(value / step));
  return { max: ticks * step, step, ticks };
}

function hourLabel(iso) {
  const t = parseTime(iso);
  return t === null ? "" : `${pad2(new Date(t).getHours())}:00`;
}

/** Stacked bars per hour: failed (red) at the bottom, succeeded (green) on top. */
export function hourlyChart(hours) {
  const W = 720;
  const H = 220;
  const m = { left: 40, right: 10, top: 12, bottom: 28 };
  const innerW = W - m.left - m.right;
  const innerH = H - m.top - m.bottom;
  const totals = hours.map((h) => (h.succeeded || 0) + (h.failed || 0));
  const { max, step, ticks } = countAxis(Math.max(0, ...totals));
  const slot = innerW / Math.max(hours.length, 1);
  const barW = Math.max(slot * 0.7, 2);
  const y = (v) => m.top + innerH - (v / max) * innerH;

  const grid = [];
  for (let i = 0; i <= ticks; i += 1) {
    const v = step * i;
    const label = String(v);
    grid.push(svg("line", { class: "grid", x1: m.left, x2: W - m.right, y1: y(v), y2: y(v) }));
    grid.push(svg("text", { class: "axis-label", x: m.left - 6, y: y(v) + 4, "text-anchor": "end" }, label));
  }
  const bars = hours.map((h, i) => {
    const x = m.left + i * slot + (slot - barW) / 2;
    const failed = h.failed || 0;
    const succeeded = h.succeeded || 0;
    const parts = [
      svg("title", null, `${hourLabel(h.hour)}: ${succeeded} succeeded, ${failed} failed`),
      // an invisible full-height target so the tooltip works on empty hours too
      svg("rect", { class: "hit", x, y: m.top, width: barW, height: innerH }),
    ];
    if (failed) parts.push(svg("rect", { class: "bar failed", x, y: y(failed), width: barW, height: y(0) - y(failed) }));
    if (succeeded) {
      parts.push(svg("rect", {
        class: "bar succeeded", x, y: y(failed + succeeded), width: barW, height: y(failed) - y(failed + succeeded),
      }));
    }
    return svg("g", { class: "hour", dataset: { hour: h.hour, succeeded, failed } }, parts);
  });
  const labels = hours.map((h, i) => (i % 3 === 0 || i === hours.length - 1
    ? svg("text", { class: "axis-label", x: m.left + i * slot + slot / 2, y: H - 8, "text-anchor": "middle" }, hourLabel(h.hour))
    : null));
  return svg("svg", {
    class: "chart hourly", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `Tasks finished per hour over the last 24 hours: ${totals.reduce((a, b) => a + b, 0)} in all`,
  }, grid, svg("line", { class: "axis", x1: m.left, x2: W - m.right, y1: y(0), y2: y(0) }), bars, labels);
}

/** Per tool: the median (accent) and p90 (yellow) duration, side by side. */
export function toolChart(tools) {
  const rows = [...tools].sort((a, b) => (b.count || 0) - (a.count || 0)).slice(0, 12);
  const W = 720;
  const rowH = 40;
  const m = { left: 150, right: 70, top: 6, bottom: 6 };
  const H = m.top + m.bottom + rows.length * rowH;
  const innerW = W - m.left - m.right;
  const max = Math.max(0.001, ...rows.map((t) => Math.max(t.p90_seconds || 0, t.median_seconds || 0)));
  const x = (v) => (Math.max(v || 0, 0) / max) * innerW;
  const cut = (name) => (name.length > 20 ? `${name.slice(0, 19)}…` : name);
  const groups = rows.map((t, i) => {
    const top = m.top + i * rowH;
    const medianW = x(t.median_seconds);
    const p90W = x(t.p90_seconds);
    return svg("g", { class: "tool", dataset: { tool: t.tool_name } },
      svg("title", null, `${t.tool_name}: median ${duration(t.median_seconds)}, p90 ${duration(t.p90_seconds)} (${t.count} finished)`),
      svg("text", { class: "tool-label", x: m.left - 8, y: top + 17, "text-anchor": "end" }, cut(String(t.tool_name))),
      svg("text", { class: "axis-label", x: m.left - 8, y: top + 31, "text-anchor": "end" }, `${t.count} run${t.count === 1 ? "" : "s"}`),
      svg("rect", { class: "bar median", x: m.left, y: top + 5, width: Math.max(medianW, 1), height: 13 }),
      svg("rect", { class: "bar p90", x: m.left, y: top + 20, width: Math.max(p90W, 1), height: 13 }),
      svg("text", { class: "value-label", x: m.left + medianW + 6, y: top + 16 }, duration(t.median_seconds)),
      svg("text", { class: "value-label", x: m.left + p90W + 6, y: top + 31 }, duration(t.p90_seconds)));
  });
  return svg("svg", {
    class: "chart tools", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": "Median and 90th percentile task duration per tool",
  }, groups);
}

export function legend(items) {
  return el("ul", { class: "legend" }, items.map(([cls, label]) => el("li", null, el("span", { class: `swatch ${cls}` }), label)));
}
