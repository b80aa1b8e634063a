// Charts as plain SVG: a daily usage chart and a per-feature bar chart. Each
// has a text alternative (the tables next to them, and <title>s per bar).
import { s, tokens, day } from "./dom.js";
import { tokenAmount } from "./units.js";

/**
 * Daily amounts of the period as columns (tokens, or with `value` and
 * `format` another amount such as dollars), with the running total up to
 * today as a line against the soft and hard caps (the caps count over the
 * whole period), and the effective cap (raises and rollover added) when it
 * differs from the hard cap. Columns and line share one scale, so a column's height
 * reads directly against the caps.
 */
export function dailyChart(
  daily,
  { softCap, hardCap, effectiveCap = hardCap, enabled, projected = null, value = (d) => d.tokens, format = tokenAmount, today = new Date().toISOString().slice(0, 10) },
) {
  const width = 640;
  const height = 220;
  const pad = { top: 12, right: 56, bottom: 28, left: 8 };
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const n = Math.max(daily.length, 1);
  let running = 0;
  const cumulative = daily.map((d) => (running += value(d)));
  const maxTotal = Math.max(Number.MIN_VALUE, running, enabled ? Math.max(hardCap ?? 0, effectiveCap ?? 0) : 0, projected ?? 0);
  const colW = innerW / n;
  const x = (i) => pad.left + i * colW;
  const yDay = (v) => pad.top + innerH - (v / maxTotal) * innerH;
  const yTotal = yDay;

  const svg = s("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `Usage per day over the period, ${daily.length} days; ${format(running)} in total`,
  });
  daily.forEach((d, i) => {
    const y = yDay(value(d));
    svg.append(
      s(
        "rect",
        {
          class: "bar-day",
          x: (x(i) + colW * 0.15).toFixed(1),
          y: y.toFixed(1),
          width: (colW * 0.7).toFixed(1),
          height: Math.max(pad.top + innerH - y, value(d) > 0 ? 1 : 0).toFixed(1),
        },
        s("title", {}, `${day(d.date)}: ${format(value(d))}, ${tokens(d.calls)} calls`),
      ),
    );
  });
  // The running total stops at today: later days have not happened yet.
  const points = cumulative
    .filter((_, i) => daily[i].date <= today)
    .map((v, i) => `${(x(i) + colW / 2).toFixed(1)},${yTotal(v).toFixed(1)}`);
  if (points.length) svg.append(s("polyline", { class: "line-total", points: points.join(" ") }));
  // The forecast: from today's running total to the projection at the reset.
  if (points.length && projected !== null && points.length < daily.length) {
    const last = points[points.length - 1];
    const end = `${(pad.left + innerW).toFixed(1)},${yTotal(projected).toFixed(1)}`;
    svg.append(
      s("polyline", { class: "line-projected", points: `${last} ${end}` }, s("title", {}, `Projected at the reset: ${format(projected)}`)),
    );
  }
  if (enabled) {
    for (const [cap, cls, label] of [
      [softCap, "cap-soft", "soft"],
      [hardCap, "cap-hard", "hard"],
      // The cap in force with raises and rollover, when it differs.
      [effectiveCap !== hardCap ? effectiveCap : null, "cap-effective", "effective"],
    ]) {
      if (cap === null || cap === undefined || cap > maxTotal) continue;
      const y = yTotal(cap).toFixed(1);
      svg.append(
        s("line", { class: cls, x1: pad.left, x2: pad.left + innerW, y1: y, y2: y }),
        s("text", { class: `label ${cls}`, x: pad.left + innerW + 4, y: Number(y) + 4 }, `${label} cap`),
      );
    }
  }
  // Day labels: first, middle and last, enough to read the axis on a phone.
  const ticks = [...new Set([0, Math.floor((daily.length - 1) / 2), daily.length - 1])].filter((i) => i >= 0);
  for (const i of ticks) {
    svg.append(
      s("text", { class: "label", x: x(i) + colW / 2, y: height - 8, "text-anchor": "middle" }, day(daily[i].date)),
    );
  }
  svg.append(s("line", { class: "axis", x1: pad.left, x2: pad.left + innerW, y1: pad.top + innerH, y2: pad.top + innerH }));
  return svg;
}

/** Tokens per feature as horizontal bars, most first (the breakdown's order). */
export function breakdownChart(breakdown) {
  const rowH = 26;
  const width = 640;
  const labelW = 160;
  const valueW = 110;
  const height = Math.max(rowH, breakdown.length * rowH);
  const max = Math.max(1, ...breakdown.map((b) => b.tokens));
  const svg = s("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `Tokens per feature, ${breakdown.length} features`,
  });
  breakdown.forEach((b, i) => {
    const y = i * rowH;
    const w = ((width - labelW - valueW) * b.tokens) / max;
    const name = b.feature.length > 16 ? `${b.feature.slice(0, 15)}…` : b.feature;
    svg.append(
      s("text", { class: "label", x: labelW - 6, y: y + 17, "text-anchor": "end" }, name),
      s(
        "rect",
        { class: "bar-feature", x: labelW, y: y + 4, width: Math.max(w, 1).toFixed(1), height: rowH - 8 },
        s("title", {}, `${b.feature}: ${tokens(b.tokens)} tokens, ${tokens(b.calls)} calls`),
      ),
      s("text", { class: "label", x: labelW + w + 6, y: y + 17 }, tokens(b.tokens)),
    );
  });
  return svg;
}
