// Tasks: server-side filtered and paginated table; stale rows yellow, auto-failed rows red.
import { api, enc } from "../api.js";
import { el, replace, uid } from "../dom.js";
import { EVENT } from "../events.js";
import { plural } from "../format.js";
import { confirmDialog } from "../modal.js";
import { go, href } from "../router.js";
import { messageLine, pageHeader, table, toast } from "../ui.js";
import { describe, loadStreams, refresher, touchesStreams, streamOptions, taskHeaders, taskRow } from "./common.js";

export const title = "Tasks";
export const PAGE_SIZE = 50;
// typing in the search box asks the server once the typing pauses this long
export const SEARCH_DEBOUNCE_MS = 300;
// the server takes at most this many characters (MAX_SEARCH_CHARS)
const SEARCH_MAX = 200;
const STATUSES = [["", "All statuses"], ["queued", "Queued"], ["running", "Running"], ["stale", "Running, stale"],
  ["succeeded", "Succeeded"], ["failed", "Failed"], ["cancelled", "Cancelled"]];
// the kinds after which the failed tasks a bulk requeue would take may differ (a stream that ends is skipped)
const FAILED_SET_EVENTS = new Set([EVENT.TASK_FAILED, EVENT.TASK_AUTO_FAILED, EVENT.TASK_REQUEUED,
  EVENT.STREAM_ENDED, EVENT.SESSION_ENDED]);

export function mount(root, _params, query) {
  let alive = true;
  const status = query.status || "";
  const streamId = query.stream_id || "";
  const tool = query.tool || "";
  // the search text and the page change in place as one types (no new page, so the box keeps the focus);
  // the address follows with replaceState, so a reload (or a shared link) shows the same search
  let search = query.q || "";
  let offset = Math.max(0, parseInt(query.offset || "0", 10) || 0);
  const statusId = uid("status");
  const streamSel = uid("stream");
  const statusSelect = el("select", { id: statusId, name: "status", on: { change: () => nav({ status: statusSelect.value, offset: 0 }) } },
    STATUSES.map(([v, label]) => el("option", { value: v, selected: v === status }, label)));
  const streamSelect = el("select", { id: streamSel, name: "stream", on: { change: () => nav({ stream_id: streamSelect.value, offset: 0 }) } });
  const toolId = uid("tool");
  const toolSelect = el("select", { id: toolId, name: "tool", on: { change: () => nav({ tool: toolSelect.value, offset: 0 }) } },
    el("option", { value: "" }, "All tools"), tool ? el("option", { value: tool, selected: true }, tool) : null);
  const searchId = uid("search");
  let typing = null;
  const searchBox = el("input", {
    id: searchId, name: "q", type: "search", value: search, maxlength: SEARCH_MAX, autocomplete: "off",
    placeholder: "id, summary, error, note, payload", on: { input: searchSoon, keydown: searchNowOnEnter },
  });
  const problem = el("div");
  const body = el("div", { id: "tasks-table" }, el("p", { class: "muted" }, "Loading…"));
  const pager = el("nav", { class: "pager", "aria-label": "Pages" });
  const bulk = el("div", { class: "bulk-actions", id: "bulk-requeue" });
  const bulkResult = messageLine("form-message bulk-result");

  replace(root,
    pageHeader("Tasks", el("a", { class: "btn primary", href: "#/enqueue" }, "Enqueue a task")),
    el("div", { class: "filters" },
      el("label", { for: statusId }, "Status"), statusSelect,
      el("label", { for: streamSel }, "Stream"), streamSelect,
      el("label", { for: toolId }, "Tool"), toolSelect,
      el("label", { for: searchId }, "Search"), searchBox, bulk),
    bulkResult.node, problem, body, pager);

  function nav(change) {
    go("tasks", { status, stream_id: streamId, tool, q: search, offset, ...change });
  }

  function searchSoon() {
    clearTimeout(typing);
    typing = setTimeout(searchNow, SEARCH_DEBOUNCE_MS);
  }

  function searchNowOnEnter(event) {
    if (event.key === "Enter") searchNow();
  }

  function searchNow() {
    clearTimeout(typing);
    if (!alive || searchBox.value === search) return;
    search = searchBox.value;
    offset = 0;
    history.replaceState(null, "", href("tasks", { status, stream_id: streamId, tool, q: search }));
    refresh();
  }

  // the registry's tools, for the filter (read once; a tool no longer in it stays selectable)
  api.get("/api/tools").then((data) => {
    if (!alive) return;
    const names = (data.tools || []).map((t) => t.name);
    if (tool && !names.includes(tool)) names.push(tool);
    replace(toolSelect, el("option", { value: "" }, "All tools"),
      names.map((name) => el("option", { value: name, selected: name === tool }, name)));
  }).catch(() => {}); // without the registry the filter keeps the tool in the address

  // The stream list (the filter's options, the rows' stream names) is read as the page mounts and
  // again only after a stream or session event: a refresh is then the one /api/tasks request.
  let streams = null;

  let latest = 0; // the newest load: an answer to an older search that comes after it is dropped

  async function load(changes) {
    const params = { stream_id: streamId, tool, q: search, limit: PAGE_SIZE, offset };
    if (status === "stale") params.stale = "true";
    else params.status = status;
    const reread = streams === null || touchesStreams(changes);
    if (reread) streams = null; // a failed read is retried by the next refresh
    const mine = ++latest;
    const [page, fresh] = await Promise.all([api.get("/api/tasks", params), reread ? loadStreams() : null]);
    if (!alive) return;
    if (fresh) streams = fresh;
    if (mine !== latest) return;
    replace(problem);
    if (fresh) streamOptions(streamSelect, streams.streams, streamId);
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
      bulkResult.error(describe(err)); // beside the offer: a refresh clears `problem`, not this
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
        + `the failed ones stay as they are, marked as requeued, and are not requeued again.${left}${unfiltered(where)}`,
      confirmLabel: `Requeue ${n} failed`,
    });
    if (!ok || !alive) return;
    try {
      const done = await api.post("/api/tasks/requeue", { status: "failed", stream_id: streamId || null });
      const copies = done.tasks || [];
      bulkResult.ok(`Requeued ${plural(copies.length, "failed task")} as `,
        copies.map((t, i) => [i ? ", " : "", el("a", { href: `#/tasks/${enc(t.id)}`, class: "mono" }, t.id)]));
    } catch (err) {
      bulkResult.error(describe(err));
    }
    failed = null;
    refresh();
  }

  /** The bulk requeue takes a stream, not a tool or a search: say so when those filters narrow the list. */
  function unfiltered(where) {
    return tool || search ? ` The tool and search filters do not narrow it: every failed task ${where} counts.` : "";
  }

  function streamName() {
    const s = streams && streams.byId.get(streamId);
    return s ? s.name : streamId;
  }

  function render(page, streams) {
    const rows = (page.tasks || []).map((t) => taskRow(t, { stream: streams.get(t.stream_id), problem, refresh }));
    const filtered = status || streamId || tool || search;
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
