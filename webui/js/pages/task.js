// Task detail: everything about one task, and the actions its status allows.
import { api, enc } from "../api.js";
import { el, replace } from "../dom.js";
import { between, duration, parseTime, prettyJson, timestamp, ago } from "../format.js";
import { confirmDialog, openModal } from "../modal.js";
import { errorPanel, field, messageLine, statusBadge, toast } from "../ui.js";
import { FINISHED, cancelTask, describe, refresher, streamHref } from "./common.js";

export const title = "Task";

function section(titleText, ...content) {
  return el("section", { class: "panel" }, el("h2", null, titleText), content);
}

function pre(text, className, id) {
  return el("pre", { class: className, id, tabindex: 0 }, text);
}

function meta(label, value) {
  return [el("dt", null, label), el("dd", null, value)];
}

const ENDED = { failed: "Failed", cancelled: "Cancelled" };
const TICK_MS = 1000;

/**
 * The server's clock minus the browser's, from a running task's `running_seconds` (measured by the
 * server as it answered): ages shown from the browser's clock then agree with the server's stale flag.
 */
function serverOffset(t) {
  const started = parseTime(t.started_at);
  if (started === null || t.running_seconds === null || t.running_seconds === undefined) return 0;
  return started + t.running_seconds * 1000 - Date.now();
}

/** The last sign of life of a task's worker: max(started_at, heartbeat_at), as the server counts stale from. */
function lastAlive(t) {
  const started = parseTime(t.started_at);
  const beat = parseTime(t.heartbeat_at);
  if (started === null) return beat;
  return beat === null ? started : Math.max(started, beat);
}

/** "last heartbeat 12s ago" (from the server's clock), or what stands in for it. */
function heartbeatAge(t, offset) {
  if (t.heartbeat_at) return `last heartbeat ${ago(t.heartbeat_at, Date.now() + offset)}`;
  return t.status === "running" ? "no heartbeat yet" : "no heartbeat";
}

function timing(task) {
  const waited = between(task.created_at, task.started_at || (task.status === "queued" ? new Date().toISOString() : null));
  const ran = task.duration_seconds ?? task.running_seconds;
  const total = between(task.created_at, task.finished_at);
  const step = (label, iso) => el("li", { class: ["step", iso ? "done" : "pending"] },
    el("div", { class: "step-label" }, label),
    el("div", { class: "step-time", title: iso ? timestamp(iso) : "" }, iso ? `${timestamp(iso)} (${ago(iso)})` : "—"));
  const gap = (label, seconds, live) => el("li", { class: "gap" },
    el("span", { class: "gap-duration" }, seconds === null || seconds === undefined ? "—" : `${duration(seconds)}${live ? " so far" : ""}`),
    el("span", { class: "muted" }, ` ${label}`));
  return el("ol", { class: "timeline", id: "timing" },
    step("Queued", task.created_at),
    gap("waiting in the queue", waited, task.status === "queued"),
    step("Started", task.started_at),
    gap("running", ran, task.status === "running"),
    step(ENDED[task.status] || "Finished", task.finished_at),
    total !== null ? el("li", { class: "gap total" }, el("span", { class: "gap-duration" }, duration(total)), el("span", { class: "muted" }, " in all")) : null);
}

export function mount(root, params) {
  let alive = true;
  let shown = "";
  const id = params.id;
  const problem = el("div");
  const content = el("div", { id: "task-detail" }, el("p", { class: "muted" }, "Loading…"));
  replace(root, el("p", { class: "crumbs" }, el("a", { href: "#/tasks" }, "← Tasks")), problem, content);

  async function load() {
    const data = await api.get(`/api/tasks/${enc(id)}`);
    if (!alive) return;
    replace(problem);
    const t = data.task;
    const signature = [t.status, t.updated_at, t.stale, t.auto_failed, t.heartbeat_at, t.progress, t.requeued_to].join("|");
    if (signature === shown) return; // unchanged: keep scroll positions and selections
    shown = signature;
    render(t);
  }

  // the heartbeat line ticks between refreshes ("last heartbeat 12s ago")
  let beat = null;
  const ticker = setInterval(() => {
    if (beat && beat.node.isConnected) beat.node.textContent = heartbeatAge(beat.task, beat.offset);
  }, TICK_MS);

  function progress(t) {
    if (t.status !== "running" && !t.heartbeat_at && !t.progress) return null;
    const offset = serverOffset(t);
    const age = el("p", { class: "heartbeat-age muted", id: "heartbeat-age", title: t.heartbeat_at ? timestamp(t.heartbeat_at) : "" }, heartbeatAge(t, offset));
    beat = { node: age, task: t, offset };
    return section("Progress",
      t.progress
        ? el("p", { class: "progress-note", id: "task-progress" }, t.progress)
        : el("p", { class: "muted", id: "task-progress" }, "(no progress note yet)"),
      age);
  }

  function staleBanner(t) {
    const alive = lastAlive(t);
    const started = parseTime(t.started_at);
    // silent for: the server's running time less the part of it the last heartbeat covered
    const silent = t.running_seconds - (alive - started) / 1000;
    const since = alive > started ? "since its last heartbeat" : "since it started, no heartbeat yet";
    return el("div", { class: "banner warning", id: "stale-banner" },
      `⚠ Stale: no sign of life for ${duration(silent)} (${since}), longer than its timeout of ${duration(t.timeout)}.`);
  }

  function render(t) {
    beat = null;
    const stream = t.stream || {};
    const result = t.result || null;
    const extra = result ? Object.fromEntries(Object.entries(result).filter(([k]) => k !== "summary")) : {};
    replace(content,
      el("div", { class: "page-header" },
        el("h1", null, "Task ", el("span", { class: "mono", id: "task-id" }, t.id), " ", statusBadge(t.status, t)),
        el("div", { class: "page-actions", id: "task-actions" }, actions(t))),
      t.auto_failed ? el("div", { class: "banner danger" }, "Auto-failed: nobody reported on it within twice its timeout.") : null,
      t.stale ? staleBanner(t) : null,
      el("dl", { class: "meta" },
        meta("Tool", t.tool_name),
        meta("Task class", t.task_class),
        meta("Stream", stream.name ? el("a", { href: streamHref(stream.name), id: "task-stream" }, stream.name) : t.stream_id),
        meta("Timeout", duration(t.timeout)),
        meta("Attempts", String(t.attempts)),
        t.requeued_from ? meta("Copy of", el("a", { href: `#/tasks/${enc(t.requeued_from)}`, class: "mono", id: "requeued-from" }, t.requeued_from)) : null,
        t.requeued_to ? meta("Requeued as", el("a", { href: `#/tasks/${enc(t.requeued_to)}`, class: "mono", id: "requeued-to" }, t.requeued_to)) : null),
      progress(t),
      result ? section("Result",
        el("p", { class: "result-summary", id: "result-summary" }, result.summary ?? ""),
        Object.keys(extra).length ? pre(prettyJson(extra), "json", "result-data") : null) : null,
      t.error ? section(t.status === "cancelled" ? "Why it was cancelled" : "Error",
        t.error_type ? el("p", { class: "error-type", id: "task-error-type" }, t.error_type) : null,
        pre(t.error, "error-text", "task-error")) : null,
      section("Timing", timing(t)),
      section("Payload", pre(prettyJson(t.payload ?? {}), "json", "payload")),
      el("div", { class: "logs" },
        section("stdout", t.stdout ? pre(t.stdout, "log", "stdout") : el("p", { class: "muted", id: "stdout" }, "(none)")),
        section("stderr", t.stderr ? pre(t.stderr, "log", "stderr") : el("p", { class: "muted", id: "stderr" }, "(none)"))),
      section(`Stream instructions${stream.name ? ` · ${stream.name}` : ""}`,
        stream.instructions ? pre(stream.instructions, "instructions", "instructions") : el("p", { class: "muted", id: "instructions" }, "(none)")));
  }

  function actions(t) {
    const buttons = [];
    if (t.status === "queued") {
      buttons.push(el("button", { type: "button", class: "btn primary", id: "claim", on: { click: () => act("claim", {}, `Task ${t.id} claimed`) } }, "Claim"));
      buttons.push(el("button", { type: "button", class: "btn danger", id: "cancel", on: { click: () => cancel(t) } }, "Cancel…"));
    }
    if (t.status === "running") {
      buttons.push(el("button", { type: "button", class: "btn primary", id: "complete", on: { click: () => completeForm(t) } }, "Complete…"));
      buttons.push(el("button", { type: "button", class: "btn danger", id: "fail", on: { click: () => failForm(t) } }, "Fail…"));
    }
    if (FINISHED.has(t.status) && !t.requeued_to) {
      buttons.push(el("button", { type: "button", class: "btn", id: "requeue", on: { click: () => requeue(t) } }, "Requeue"));
    }
    return buttons;
  }

  async function act(action, body, done) {
    try {
      await api.post(`/api/tasks/${enc(id)}/${action}`, body);
      toast(done);
    } catch (err) {
      replace(problem, errorPanel(describe(err)));
    }
    shown = "";
    await refresh();
  }

  function cancel(t) {
    cancelTask(t, () => {
      shown = "";
      return refresh();
    });
  }

  async function requeue(t) {
    try {
      const data = await api.post(`/api/tasks/${enc(t.id)}/requeue`, {});
      toast(`Queued again as ${data.task.id}`);
      location.hash = `#/tasks/${enc(data.task.id)}`;
    } catch (err) {
      replace(problem, errorPanel(describe(err)));
    }
  }

  function outputFields() {
    const stdout = field("stdout", el("textarea", { name: "stdout", rows: 4, class: "mono", placeholder: "optional" }));
    const stderr = field("stderr", el("textarea", { name: "stderr", rows: 4, class: "mono", placeholder: "optional" }));
    const values = () => ({
      stdout: stdout.input.value ? stdout.input.value : null,
      stderr: stderr.input.value ? stderr.input.value : null,
    });
    return { rows: [stdout.row, stderr.row], values };
  }

  function reportForm({ formId, heading, fields, submitLabel, danger, build, confirm }) {
    const output = outputFields();
    const message = messageLine();
    const submit = el("button", { type: "submit", class: danger ? "btn danger" : "btn primary" }, submitLabel);
    const form = el("form", { class: "modal-form", id: formId, novalidate: true },
      fields.map((f) => f.row), output.rows, message.node,
      el("div", { class: "modal-actions" },
        el("button", { type: "button", class: "btn", on: { click: () => modal.close() } }, "Cancel"), submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = build();
      if (!body) return;
      if (confirm && !(await confirm())) return;
      submit.disabled = true;
      try {
        await api.post(`/api/tasks/${enc(id)}/${formId === "complete-form" ? "complete" : "fail"}`, { ...body, ...output.values() });
        modal.close();
        toast(`Task ${id} ${formId === "complete-form" ? "completed" : "failed"}`);
        shown = "";
        refresh();
      } catch (err) {
        message.error(describe(err));
      } finally {
        submit.disabled = false;
      }
    });
    const modal = openModal({ title: heading, content: form });
  }

  function completeForm() {
    const summary = field("Summary", el("input", { type: "text", name: "summary", required: true, autocomplete: "off" }),
      { hint: "One line: what was done." });
    const extra = field("More result data (JSON object)", el("textarea", { name: "result", rows: 4, class: "mono", placeholder: '{"files_changed": 3}' }),
      { hint: "Optional; merged into the result next to the summary." });
    reportForm({
      formId: "complete-form", heading: `Complete ${id}`, fields: [summary, extra], submitLabel: "Mark succeeded",
      build() {
        const text = summary.input.value.trim();
        summary.setError(text ? "" : "A summary is required");
        let data = {};
        const raw = extra.input.value.trim();
        let bad = "";
        if (raw) {
          try {
            data = JSON.parse(raw);
            if (data === null || typeof data !== "object" || Array.isArray(data)) bad = "Must be a JSON object, e.g. {\"key\": \"value\"}";
          } catch (err) {
            bad = `Not valid JSON: ${err.message}`;
          }
        }
        extra.setError(bad);
        if (!text) summary.input.focus();
        else if (bad) extra.input.focus();
        if (!text || bad) return null;
        return { result: { ...data, summary: text } };
      },
    });
  }

  function failForm() {
    const error = field("Error message", el("input", { type: "text", name: "error_message", required: true, autocomplete: "off" }),
      { hint: "What went wrong, in a line." });
    reportForm({
      formId: "fail-form", heading: `Fail ${id}`, fields: [error], submitLabel: "Mark failed", danger: true,
      build() {
        const text = error.input.value.trim();
        error.setError(text ? "" : "An error message is required");
        if (!text) {
          error.input.focus();
          return null;
        }
        return { error_message: text };
      },
      confirm: () => confirmDialog({
        title: "Fail task", message: `Mark task ${id} as failed? A worker still on it will have its report refused.`,
        confirmLabel: "Mark failed", danger: true,
      }),
    });
  }

  const refresh = refresher(load, problem, () => alive);

  refresh();
  return { refresh, dispose: () => { alive = false; clearInterval(ticker); } };
}
