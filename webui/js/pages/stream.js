// A stream's page (#/streams/NAME): its instructions (as text), task counts and newest tasks; edit, end.
import { api, enc } from "../api.js";
import { el, replace } from "../dom.js";
import { ago, timestamp } from "../format.js";
import { statusBadge, table } from "../ui.js";
import { refresher, streamCounts, taskHeaders, taskRow } from "./common.js";
import { editInstructions, endStream } from "./streams.js";

export const title = "Stream";
// the newest tasks are shown here; the task list (linked) pages through all of them
const NEWEST = 20;

function meta(label, value) {
  return [el("dt", null, label), el("dd", null, value)];
}

function when(iso) {
  return el("span", { title: timestamp(iso) }, ago(iso));
}

export function mount(root, params) {
  let alive = true;
  let shown = ""; // what the stream part shows: re-drawn only when it changed (keeps a selection)
  const name = params.name;
  const problem = el("div");
  const about = el("div", { id: "stream-detail" }, el("p", { class: "muted" }, "Loading…"));
  const tasks = el("div", { id: "stream-tasks" });
  replace(root, el("p", { class: "crumbs" }, el("a", { href: "#/streams" }, "← Streams")), problem, about, tasks);

  async function load() {
    const [one, page] = await Promise.all([
      api.get(`/api/streams/${enc(name)}`),
      api.get("/api/tasks", { stream_id: name, limit: NEWEST }),
    ]);
    if (!alive) return;
    replace(problem);
    const s = one.stream;
    const signature = JSON.stringify(s);
    if (signature !== shown) {
      shown = signature;
      renderStream(s);
    }
    renderTasks(s, page);
  }

  function renderStream(s) {
    const active = s.status === "active";
    replace(about,
      el("div", { class: "page-header" },
        el("h1", null, "Stream ", el("span", { id: "stream-name" }, s.name), " ", statusBadge(s.status)),
        el("div", { class: "page-actions", id: "stream-actions" }, active ? [
          el("button", { type: "button", class: "btn primary", id: "edit-instructions", on: { click: () => editInstructions(s, refresh) } }, "Edit instructions"),
          el("a", { class: "btn", href: `#/enqueue?stream_id=${enc(s.id)}` }, "Enqueue a task"),
          el("button", { type: "button", class: "btn danger", id: "end-stream", on: { click: () => endStream(s, problem, refresh) } }, "End"),
        ] : null)),
      el("dl", { class: "meta" },
        meta("Session", s.session_name || s.session_id),
        meta("Created", when(s.created_at)),
        s.ended_at ? meta("Ended", when(s.ended_at)) : null,
        meta("Tasks", el("span", { id: "stream-counts" }, streamCounts(s.task_counts)))),
      el("section", { class: "panel" },
        el("h2", null, "Instructions"),
        el("p", { class: "muted" }, active
          ? "Every worker gets these with each task it claims; an edit reaches the next claim."
          : "The stream has ended: these are what its workers were told."),
        s.instructions
          ? el("pre", { class: "instructions", id: "stream-instructions", tabindex: 0 }, s.instructions)
          : el("p", { class: "muted", id: "stream-instructions" }, "(none)")));
  }

  function renderTasks(s, page) {
    const rows = (page.tasks || []).map((t) => taskRow(t, { withStream: false, problem, refresh }));
    const total = page.total || 0;
    replace(tasks, el("section", { class: "panel" },
      el("div", { class: "panel-head" },
        el("h2", null, "Newest tasks"),
        el("a", { href: `#/tasks?stream_id=${enc(s.id)}`, id: "all-stream-tasks" }, `All ${total} in the task list →`)),
      table(taskHeaders({ withStream: false }), rows, { empty: "No tasks in this stream yet.", className: "tasks-table clickable" })));
  }

  const refresh = refresher(load, problem, () => alive);

  refresh();
  return { refresh, dispose: () => { alive = false; } };
}
