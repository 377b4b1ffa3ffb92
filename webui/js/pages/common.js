// Helpers shared by the pages.
import { api, ApiError, enc } from "../api.js";
import { el, replace } from "../dom.js";
import { STREAM_LIST_EVENTS } from "../events.js";
import { ago, duration, timestamp } from "../format.js";
import { confirmDialog, openModal } from "../modal.js";
import { errorPanel, field, messageLine, statusBadge, toast } from "../ui.js";

export async function loadStreams(params) {
  const data = await api.get("/api/streams", params);
  const streams = data.streams || [];
  return { streams, byId: new Map(streams.map((s) => [s.id, s])) };
}

/** A <select> of streams; "" means all streams. */
export function streamOptions(select, streams, selected, { allLabel = "All streams", showEnded = true } = {}) {
  const opts = [];
  if (allLabel !== null) opts.push(el("option", { value: "" }, allLabel));
  for (const s of streams) {
    if (!showEnded && s.status !== "active") continue;
    const label = `${s.name} · ${s.session_name || "?"}${s.status === "active" ? "" : " (ended)"}`;
    opts.push(el("option", { value: s.id, selected: s.id === selected || s.name === selected }, label));
  }
  replace(select, opts);
  if (selected && ![...select.options].some((o) => o.selected && o.value)) {
    // a filter for a stream that is not listed (e.g. a name) stays visible
    select.append(el("option", { value: selected, selected: true }, selected));
  }
}

export function timeCell(iso) {
  return el("td", { class: "time", title: iso ? timestamp(iso) : "" }, iso ? ago(iso) : "—");
}

export function taskDuration(task) {
  if (task.duration_seconds !== null && task.duration_seconds !== undefined) return duration(task.duration_seconds);
  if (task.running_seconds !== null && task.running_seconds !== undefined) return `${duration(task.running_seconds)} so far`;
  return "—";
}

/** Row classes: stale rows yellow, auto-failed rows red. */
export function rowClass(task) {
  return ["task-row", `status-${task.status}`, task.stale ? "stale" : null, task.auto_failed ? "auto-failed" : null];
}

export function taskStatus(task) {
  return statusBadge(task.status, task);
}

/** The stream page's address: `#/streams/NAME`. */
export function streamHref(name) {
  return `#/streams/${enc(name)}`;
}

/** A stream's task counts per status, each coloured by its status (grey when zero). */
export function streamCounts(c = {}) {
  return el("span", { class: "counts" },
    STATUS_ORDER.map((k) => el("span", { class: ["count", `status-${k}`, c[k] ? null : "zero"], title: k }, `${c[k] || 0} ${k}`)));
}

/** The header of a task table made of `taskRow`s; `withStream` as given to them. */
export function taskHeaders({ withStream = true } = {}) {
  return ["ID", "Tool", withStream ? "Stream" : null, "Status", "Created", "Started", "Finished", "Duration", "Summary / error", ""]
    .filter((h) => h !== null);
}

/**
 * A row of a task table (stale rows yellow, auto-failed red): its id links to the task, its stream
 * (`stream`, from the stream list; unless `withStream` is false) to the stream page, a click anywhere
 * else opens the task; finished rows get a Requeue button that reports into `problem`, then `refresh`es.
 */
export function taskRow(t, { stream = null, withStream = true, problem, refresh }) {
  const row = el("tr", { class: rowClass(t), dataset: { taskId: t.id, status: t.status } },
    el("td", { class: "mono" }, t.stale ? el("span", { class: "warn-mark", title: "Running longer than its timeout", "aria-label": "stale" }, "⚠ ") : null,
      el("a", { href: `#/tasks/${enc(t.id)}` }, t.id)),
    el("td", null, t.tool_name),
    withStream ? el("td", { class: "stream-cell" }, stream ? el("a", { href: streamHref(stream.name) }, stream.name) : t.stream_id) : null,
    el("td", { class: "status-cell" }, taskStatus(t), requeuedMark(t)),
    timeCell(t.created_at),
    timeCell(t.started_at),
    timeCell(t.finished_at),
    el("td", { class: "num" }, taskDuration(t)),
    noteCell(t),
    el("td", { class: "actions" }, rowAction(t, problem, refresh)));
  row.addEventListener("click", (event) => {
    if (event.target.closest("a, button")) return;
    location.hash = `#/tasks/${enc(t.id)}`;
  });
  return row;
}

/** Queued: Cancel; finished and not requeued yet: Requeue (a requeued task's copy is where to act). */
function rowAction(t, problem, refresh) {
  if (t.status === "queued") {
    return el("button", { type: "button", class: "btn small danger cancel", on: { click: () => cancelTask(t, refresh) } }, "Cancel");
  }
  if (FINISHED.has(t.status) && !t.requeued_to) {
    return el("button", { type: "button", class: "btn small requeue", on: { click: () => requeue(t, problem, refresh) } }, "Requeue");
  }
  return null;
}

/** "↻ requeued", linking the copy, on a task that was requeued; nothing otherwise. */
export function requeuedMark(t) {
  if (!t.requeued_to) return null;
  return el("a", { class: "requeued-mark", href: `#/tasks/${enc(t.requeued_to)}`, title: `Requeued as ${t.requeued_to}` }, "↻ requeued");
}

/** The line a list shows for a task: the progress note while running, else the summary or the error. */
export function taskNote(t) {
  if (t.status === "running") return t.progress || "";
  return t.summary || t.error || "";
}

/** Whether the task failed with a question for the developer (WORKER_PLAYBOOK's escalation: an error that starts `QUESTION:`). */
export function isQuestion(t) {
  return t.status === "failed" && (t.error || "").startsWith("QUESTION:");
}

/** The summary/error cell of a task row (a running task's progress note in its place), as text; a question stands out with `?`. */
export function noteCell(t) {
  const note = taskNote(t);
  const question = isQuestion(t);
  return el("td", { class: ["summary-cell", t.status === "running" ? "progress-note" : null, question ? "question" : null], title: note },
    question ? el("span", { class: "question-mark", title: "A question for you: answer it in the stream's instructions", "aria-label": "question" }, "?") : null,
    note);
}

/**
 * Cancel the queued task `t` after a confirmation (a native dialog with an optional reason). A refusal
 * (e.g. a worker claimed it meanwhile) is shown in the dialog, which stays open; `refresh` runs after
 * each attempt, so the page shows the task as it now is.
 */
export function cancelTask(t, refresh) {
  const reason = field("Reason (optional)", el("input", { type: "text", name: "reason", autocomplete: "off" }),
    { hint: "Kept on the task, e.g. “superseded by the new plan”." });
  const message = messageLine();
  const submit = el("button", { type: "submit", class: "btn danger" }, "Cancel task");
  const form = el("form", { class: "modal-form", id: "cancel-form", novalidate: true },
    el("p", { class: "confirm-message" }, `Cancel queued task ${t.id} (${t.tool_name})? No worker will claim it; it can be requeued later.`),
    reason.row, message.node,
    el("div", { class: "modal-actions" },
      el("button", { type: "button", class: "btn", on: { click: () => modal.close() } }, "Keep it"), submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    const text = reason.input.value.trim();
    try {
      await api.post(`/api/tasks/${enc(t.id)}/cancel`, text ? { reason: text } : {});
      modal.close();
      toast(`Task ${t.id} cancelled`);
    } catch (err) {
      message.error(describe(err));
    } finally {
      submit.disabled = false;
    }
    refresh();
  });
  const modal = openModal({ title: "Cancel task", content: form });
  return modal;
}

async function requeue(t, problem, refresh) {
  try {
    const data = await api.post(`/api/tasks/${enc(t.id)}/requeue`, {});
    toast(`Task ${data.task.id} queued again (copy of ${t.id})`);
  } catch (err) {
    replace(problem, errorPanel(describe(err)));
  }
  refresh();
}

/** Words for an error from the API (or anything else thrown). */
export function describe(err) {
  if (err instanceof ApiError) return err.message;
  return err && err.message ? err.message : String(err);
}

/** The terminal statuses: such a task can be requeued (once: then its copy is where the work goes on). */
export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

/** The statuses a task count is kept for, in the order they are shown. */
export const STATUS_ORDER = ["queued", "running", "succeeded", "failed", "cancelled"];

/**
 * A page's refresh: run `load(changes)`; a failure is shown in `problem` while the page is still shown.
 * `changes` is the set of event kinds since the last refresh (empty: only time passed); null or
 * undefined (a page refreshing after its own action) when anything may have changed.
 */
export function refresher(load, problem, isAlive) {
  return async function refresh(changes) {
    try {
      await load(changes);
    } catch (err) {
      if (isAlive()) replace(problem, errorPanel(describe(err)));
    }
  };
}

/** Whether `changes` (see `refresher`) may have touched the stream list: a stream or session event. */
export function touchesStreams(changes) {
  if (!changes) return true;
  return [...changes].some((kind) => STREAM_LIST_EVENTS.has(kind));
}

/** Ask, then end a session or a stream (`kind`); say how it went. Resolves false if cancelled. */
export async function endAfterConfirm(kind, item, consequence, problem) {
  const ok = await confirmDialog({
    title: `End ${kind}`,
    message: `End ${kind} “${item.name}”? ${consequence}`,
    confirmLabel: `End ${kind}`,
    danger: true,
  });
  if (!ok) return false;
  try {
    await api.put(`/api/${kind}s/${enc(item.id)}/end`, {});
    toast(`${kind[0].toUpperCase()}${kind.slice(1)} ${item.name} ended`);
  } catch (err) {
    replace(problem, errorPanel(describe(err)));
  }
  return true;
}

/** Submit a "create" form: POST `body` to `path`; on success close the modal, say so and refresh. */
export async function submitCreate({ path, body, label, submit, message, modal, refresh }) {
  submit.disabled = true;
  try {
    await api.post(path, body);
    modal.close();
    toast(`${label} created`);
    refresh();
  } catch (err) {
    message.error(describe(err));
  } finally {
    submit.disabled = false;
  }
}
