// Dashboard: counts, charts of the last 24 h, the newest tasks; filter by stream.
import { api, enc } from "../api.js";
import { el, replace, uid } from "../dom.js";
import { hourlyChart, legend, toolChart } from "../charts.js";
import { go } from "../router.js";
import { pageHeader, table } from "../ui.js";
import { noteCell, refresher, requeuedMark, rowClass, streamOptions, taskDuration, taskStatus, timeCell } from "./common.js";

export const title = "Dashboard";

function card(key, label) {
  const value = el("div", { class: "card-value" }, "–");
  const sub = el("div", { class: "card-sub" });
  const node = el("div", { class: `card count-${key}`, dataset: { count: key } }, el("div", { class: "card-label" }, label), value, sub);
  return { node, value, sub };
}

export function mount(root, _params, query) {
  let alive = true;
  const streamFilter = query.stream_id || "";
  const filterId = uid("dash-stream");
  const select = el("select", { id: filterId, on: { change: () => go("dashboard", { stream_id: select.value }) } });
  const problem = el("div");
  const cards = {
    sessions: card("sessions", "Active sessions"),
    streams: card("streams", "Active streams"),
    queued: card("queued", "Queued"),
    running: card("running", "Running"),
    succeeded: card("succeeded", "Succeeded"),
    failed: card("failed", "Failed"),
    cancelled: card("cancelled", "Cancelled"),
  };
  const hourly = el("div", { class: "chart-box", id: "chart-hourly" }, el("p", { class: "muted" }, "Loading…"));
  const tools = el("div", { class: "chart-box", id: "chart-tools" }, el("p", { class: "muted" }, "Loading…"));
  const recent = el("div", { id: "recent-tasks" });
  const scopeNote = el("span", { class: "muted" });

  replace(root,
    pageHeader("Dashboard",
      el("label", { for: filterId, class: "inline-label" }, "Stream"), select),
    problem,
    el("section", { class: "cards", "aria-label": "Counts" }, Object.values(cards).map((c) => c.node)),
    el("div", { class: "charts" },
      el("section", { class: "panel" },
        el("h2", null, "Finished per hour, last 24 h"),
        legend([["succeeded", "succeeded"], ["failed", "failed"]]), hourly),
      el("section", { class: "panel" },
        el("h2", null, "Duration per tool"),
        legend([["median", "median"], ["p90", "p90"]]), tools)),
    el("section", { class: "panel" },
      el("div", { class: "panel-head" }, el("h2", null, "Newest tasks ", scopeNote),
        el("a", { href: streamFilter ? `#/tasks?stream_id=${enc(streamFilter)}` : "#/tasks" }, "All tasks →")),
      recent));

  async function load() {
    // one request per refresh: everything the dashboard shows comes in one answer
    const data = await api.get("/api/overview", { stream_id: streamFilter, limit: 10 });
    if (!alive) return;
    replace(problem);
    const streams = data.streams || [];
    const byId = new Map(streams.map((s) => [s.id, s]));
    streamOptions(select, streams, streamFilter);
    const activeStreams = streams.filter((s) => s.status === "active").length;
    let counts = data.counts || {};
    const chosen = streamFilter ? (byId.get(streamFilter) || streams.find((s) => s.name === streamFilter)) : null;
    if (chosen) counts = chosen.task_counts || {};
    const stats = data.stats || null;
    setCard(cards.sessions, (data.sessions || {}).active || 0, "");
    setCard(cards.streams, activeStreams, "");
    setCard(cards.queued, counts.queued || 0, chosen ? `in ${chosen.name}` : "");
    setCard(cards.running, counts.running || 0, chosen ? `in ${chosen.name}` : "");
    const hours = stats && Array.isArray(stats.finished_per_hour) ? stats.finished_per_hour : null;
    const recentSum = (key) => (hours ? hours.reduce((n, h) => n + (h[key] || 0), 0) : null);
    setCard(cards.succeeded, counts.succeeded || 0, hours && !chosen ? `${recentSum("succeeded")} in the last 24 h` : "in all");
    setCard(cards.failed, counts.failed || 0, hours && !chosen ? `${recentSum("failed")} in the last 24 h` : "in all");
    setCard(cards.cancelled, counts.cancelled || 0, chosen ? `in ${chosen.name}` : "in all");
    scopeNote.textContent = chosen ? `in ${chosen.name}` : "";
    renderCharts(stats);
    renderRecent(data.tasks || [], byId);
  }

  function setCard(c, value, sub) {
    c.value.textContent = String(value);
    c.sub.textContent = sub;
  }

  function renderCharts(stats) {
    const hours = stats && Array.isArray(stats.finished_per_hour) ? stats.finished_per_hour : [];
    replace(hourly, hours.length ? hourlyChart(hours) : el("p", { class: "muted no-data" }, "No data yet."));
    if (hours.length && !hours.some((h) => h.succeeded || h.failed)) {
      hourly.append(el("p", { class: "muted no-data" }, "No task finished in the last 24 hours."));
    }
    const perTool = stats && Array.isArray(stats.tools) ? stats.tools : [];
    replace(tools, perTool.length ? toolChart(perTool) : el("p", { class: "muted no-data" }, "No data yet: no task has finished."));
  }

  function renderRecent(tasks, streams) {
    const rows = tasks.map((t) => el("tr", { class: rowClass(t), dataset: { taskId: t.id } },
      el("td", { class: "mono" }, el("a", { href: `#/tasks/${enc(t.id)}` }, t.id)),
      el("td", null, t.tool_name),
      el("td", null, (streams.get(t.stream_id) || {}).name || t.stream_id),
      el("td", { class: "status-cell" }, taskStatus(t), requeuedMark(t)),
      timeCell(t.created_at),
      el("td", { class: "num" }, taskDuration(t)),
      noteCell(t)));
    replace(recent, table(["ID", "Tool", "Stream", "Status", "Created", "Duration", "Summary / error / progress"], rows,
      { empty: "No tasks yet. Queue one on the Enqueue page or with `sparkq enqueue`.", className: "tasks-table" }));
  }

  const refresh = refresher(load, problem, () => alive);

  refresh();
  return { refresh, dispose: () => { alive = false; } };
}
