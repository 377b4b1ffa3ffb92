// Tasks: server-side filtered and paginated table; stale rows yellow, auto-failed rows red.
import { api, enc } from "../api.js";
import { el, replace, uid } from "../dom.js";
import { EVENT } from "../events.js";
import { plural } from "../format.js";
import { confirmDialog } from "../modal.js";
import { go } from "../router.js";
import { errorPanel, messageLine, pageHeader, table, toast } from "../ui.js";
import { describe, loadStreams, refresher, touchesStreams, streamOptions, taskHeaders, taskRow } from "./common.js";

export const title = "Tasks";
export const PAGE_SIZE = 50;
const STATUSES = [["", "All statuses"], ["queued", "Queued"], ["running", "Running"], ["stale", "Running, stale"],
  ["succeeded", "Succeeded"], ["failed", "Failed"], ["cancelled", "Cancelled"]];
// the kinds after which the failed tasks a bulk requeue would take may differ (a stream that ends is skipped)
const FAILED_SET_EVENTS = new Set([EVENT.TASK_FAILED, EVENT.TASK_AUTO_FAILED, EVENT.TASK_REQUEUED,
  EVENT.STREAM_ENDED, EVENT.SESSION_ENDED]);

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
  const bulk = el("div", { class: "bulk-actions", id: "bulk-requeue" });
  const bulkResult = messageLine("form-message bulk-result");

  replace(root,
    pageHeader("Tasks", el("a", { class: "btn primary", href: "#/enqueue" }, "Enqueue a task")),
    el("div", { class: "filters" },
      el("label", { for: statusId }, "Status"), statusSelect,
      el("label", { for: streamSel }, "Stream"), streamSelect, bulk),
    bulkResult.node, problem, body, pager);

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
    await countFailed(page, changes);
  }

  // "Requeue N failed": N is what a dry run of the bulk requeue answers for this filter's stream. It is
  // asked only where failed tasks are in view, and again only after an event that can change it.
  let failed = null; // {originals, skipped} of the last dry run

  async function countFailed(page, changes) {
    const inView = status === "failed" || (status === "" && (page.tasks || []).some((t) => t.status === "failed" && !t.requeued_to));
    if (!inView) {
      failed = null;
      replace(bulk);
      return;
    }
    if (failed === null || !changes || [...changes].some((kind) => FAILED_SET_EVENTS.has(kind))) {
      failed = await dryRun();
      if (!alive) return;
    }
    const n = failed.originals.length;
    replace(bulk, n ? el("button", { type: "button", class: "btn", id: "requeue-failed", on: { click: requeueFailed } },
      `Requeue ${n} failed`) : null);
  }

  function dryRun() {
    return api.post("/api/tasks/requeue", { status: "failed", stream_id: streamId || null, dry_run: true });
  }

  async function requeueFailed() {
    bulkResult.clear();
    let plan;
    try {
      plan = await dryRun(); // counted again now: the confirmation states exactly what will be done
    } catch (err) {
      replace(problem, errorPanel(describe(err)));
      return;
    }
    const n = plan.originals.length;
    const where = streamId ? `of stream ${streamName()}` : "of every stream";
    if (!n) {
      toast(`No failed task ${where} is left to requeue`);
      refresh();
      return;
    }
    const left = plan.skipped.length
      ? ` ${plural(plan.skipped.length, "failed task")} of ended streams stay as they are: an ended stream takes no new task.` : "";
    const ok = await confirmDialog({
      title: "Requeue failed tasks",
      message: `Requeue ${plural(n, "failed task")} ${where}? Each gets a new queued copy, in their original order; `
        + `the failed ones stay as they are, marked as requeued, and are not requeued again.${left}`,
      confirmLabel: `Requeue ${n} failed`,
    });
    if (!ok || !alive) return;
    try {
      const done = await api.post("/api/tasks/requeue", { status: "failed", stream_id: streamId || null });
      const copies = done.tasks || [];
      bulkResult.ok(`Requeued ${plural(copies.length, "failed task")} as `,
        copies.map((t, i) => [i ? ", " : "", el("a", { href: `#/tasks/${enc(t.id)}`, class: "mono" }, t.id)]));
    } catch (err) {
      replace(problem, errorPanel(describe(err)));
    }
    failed = null;
    refresh();
  }

  function streamName() {
    const s = streams && streams.byId.get(streamId);
    return s ? s.name : streamId;
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
