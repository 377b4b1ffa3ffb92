// Times and durations, worded like the CLI: "3m ago", "1m 05s".

export function parseTime(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

const pad = (n) => String(n).padStart(2, "0");

/** 0.4s, 42s, 1m 05s, 2h 03m, 3d 04h */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(Number(seconds), 0);
  if (s < 10) return `${s.toFixed(1)}s`;
  const whole = Math.floor(s);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m ${pad(whole % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${pad(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d ${pad(hours % 24)}h`;
}

/** just now, 12s ago, 3m ago, 5h ago, 2d ago; the date after 30 days. */
export function ago(iso, now = Date.now()) {
  const t = parseTime(iso);
  if (t === null) return "—";
  const s = (now - t) / 1000;
  if (s < 1) return "just now";
  if (s < 60) return `${Math.floor(s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  if (s < 30 * 86400) return `${Math.floor(s / 86400)}d ago`;
  return localDate(t);
}

function localDate(t) {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Local wall-clock time to the second (for tooltips and the detail page). */
export function timestamp(iso) {
  const t = parseTime(iso);
  if (t === null) return "—";
  const d = new Date(t);
  return `${localDate(t)} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Seconds between two ISO times (null if either is missing). */
export function between(fromIso, toIso) {
  const a = parseTime(fromIso);
  const b = parseTime(toIso);
  return a === null || b === null ? null : Math.max((b - a) / 1000, 0);
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** First non-blank line, cut to `max` characters. */
export function preview(text, max = 80) {
  const line = (text || "").split("\n").map((l) => l.trim()).find(Boolean) || "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function prettyJson(value) {
  return JSON.stringify(value, null, 2);
}
