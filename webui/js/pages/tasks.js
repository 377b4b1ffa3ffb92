// Tasks: server-side filtered and paginated table; stale rows yellow, auto-failed rows red.
import { api } from "../api.js";
import { el, replace, uid } from "../dom.js";
import { go } from "../router.js";
import { pageHeader, table } from "../ui.js";
import { loadStreams, refresher, touchesStreams, streamOptions, taskHeaders, taskRow } from "./common.js";

export const title = "Tasks";
export const PAGE_SIZE = 50;
const STATUSES = [["", "All statuses"], ["queued", "Queued"], ["running", "Running"], ["stale", "Running, stale"],
  ["succeeded", "Succeeded"], ["failed", "Failed"]];

export function mount(root, _params, query) {
  let alive = true;
  const status = query.status || "";
  const streamId = query.stream_id || "";
  const offset = Math.max(0, parseInt(query.offset || "0", 10) || 0);
  const statusId = uid("status");
  const streamSel = uid("stream");
  const statusSelect = el("select", { id: statusId, name: "status", on: { change: () => nav({ status: statusSelect.value, offset: 0 }) } },
    STATUSES.map(([v, label]) => el("option", { value: v, selected: v === status }, label)));
  const streamSelect = el("select", { id: streamSel, name: "stream", on: { change: () => nav({ stream_id: streamSelect.value, offset: 0 }) } });
  const problem = el("div");
  const body = el("div", { id: "tasks-table" }, el("p", { class: "muted" }, "Loading…"));
  const pager = el("nav", { class: "pager", "aria-label": "Pages" });

  replace(root,
    pageHeader("Tasks", el("a", { class: "btn primary", href: "#/enqueue" }, "Enqueue a task")),
    el("div", { class: "filters" },
      el("label", { for: statusId }, "Status"), statusSelect,
      el("label", { for: streamSel }, "Stream"), streamSelect),
    problem, body, pager);

  function nav(change) {
    go("tasks", { status, stream_id: streamId, offset, ...change });
  }

  // The stream list (the filter's options, the rows' stream names) is read as the page mounts and
  // again only after a stream or session event: a refresh is then the one /api/tasks request.
  let streams = null;

  async function load(changes) {
    const params = { stream_id: streamId, limit: PAGE_SIZE, offset };
    if (status === "stale") params.stale = "true";
    else params.status = status;
    const reread = streams === null || touchesStreams(changes);
    if (reread) streams = null; // a failed read is retried by the next refresh
    const [page, fresh] = await Promise.all([api.get("/api/tasks", params), reread ? loadStreams() : null]);
    if (!alive) return;
    replace(problem);
    if (fresh) {
      streams = fresh;
      streamOptions(streamSelect, streams.streams, streamId);
    }
    render(page, streams.byId);
  }

  function render(page, streams) {
    const rows = (page.tasks || []).map((t) => taskRow(t, { stream: streams.get(t.stream_id), problem, refresh }));
    const filtered = status || streamId;
    replace(body, table(taskHeaders(), rows,
      { empty: filtered ? "No task matches these filters." : "No tasks yet.", className: "tasks-table clickable" }));
    const total = page.total || 0;
    const first = total ? offset + 1 : 0;
    const last = Math.min(offset + (page.tasks || []).length, total);
    replace(pager,
      el("button", { type: "button", class: "btn small", id: "prev-page", disabled: offset <= 0,
        on: { click: () => nav({ offset: Math.max(0, offset - PAGE_SIZE) }) } }, "← Newer"),
      el("span", { class: "page-info", id: "page-info" }, `${first}–${last} of ${total}`),
      el("button", { type: "button", class: "btn small", id: "next-page", disabled: offset + PAGE_SIZE >= total,
        on: { click: () => nav({ offset: offset + PAGE_SIZE }) } }, "Older →"));
  }

  const refresh = refresher(load, problem, () => alive);

  refresh();
  return { refresh, dispose: () => { alive = false; } };
}
