// Streams: table with task counts, create (modal with a session dropdown), edit instructions, end (with confirmation).
import { api, enc } from "../api.js";
import { el, replace } from "../dom.js";
import { preview } from "../format.js";
import { openModal } from "../modal.js";
import { errorPanel, field, messageLine, pageHeader, statusBadge, table, toast } from "../ui.js";
import { describe, endAfterConfirm, refresher, streamCounts, streamHref, submitCreate } from "./common.js";

export const title = "Streams";

/** Ask, then end `stream`; a problem is shown in `problem`, and the page `refresh`es. */
export async function endStream(stream, problem, refresh) {
  const consequence = "It will accept no new tasks, and its queued tasks are cancelled (reason “stream ended”).";
  if (await endAfterConfirm("stream", stream, consequence, problem)) refresh();
}

/**
 * The "Edit instructions" modal of an active `stream`: PUT the new text (blank clears them), then
 * `refresh`. The next task claimed from the stream carries them.
 */
export function editInstructions(stream, refresh) {
  const text = field("Instructions", el("textarea", { name: "instructions", rows: 12, value: stream.instructions || "" }),
    { hint: "Goals, context, done-when. Workers get them with the next task they claim; running tasks keep theirs." });
  const message = messageLine();
  const submit = el("button", { type: "submit", class: "btn primary" }, "Save instructions");
  const form = el("form", { class: "modal-form", id: "instructions-form", novalidate: true },
    text.row, message.node,
    el("div", { class: "modal-actions" },
      el("button", { type: "button", class: "btn", on: { click: () => modal.close() } }, "Cancel"), submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const value = text.input.value;
      await api.put(`/api/streams/${enc(stream.id)}`, { instructions: value.trim() ? value : null });
      modal.close();
      toast(value.trim() ? `Instructions of ${stream.name} saved: the next task claimed from it carries them` : `Instructions of ${stream.name} cleared`);
      refresh();
    } catch (err) {
      message.error(describe(err));
    } finally {
      submit.disabled = false;
    }
  });
  const modal = openModal({ title: `Edit instructions · ${stream.name}`, content: form });
  return modal;
}

export function mount(root) {
  let alive = true;
  const problem = el("div");
  const body = el("div", { id: "streams-table" }, el("p", { class: "muted" }, "Loading…"));
  const create = el("button", { type: "button", class: "btn primary", id: "new-stream", on: { click: () => openCreate() } }, "New stream");
  replace(root, pageHeader("Streams", create), problem, body);

  async function load() {
    const data = await api.get("/api/streams");
    if (!alive) return;
    replace(problem);
    const rows = (data.streams || []).map((s) => el("tr", { dataset: { streamId: s.id, name: s.name } },
      el("td", { class: "name" }, el("a", { href: streamHref(s.name) }, s.name)),
      el("td", null, s.session_name || s.session_id),
      el("td", null, statusBadge(s.status)),
      el("td", null, el("a", { href: `#/tasks?stream_id=${enc(s.id)}`, class: "counts-link", title: "Its tasks" }, streamCounts(s.task_counts))),
      el("td", { class: "instructions-preview", title: s.instructions || "" }, preview(s.instructions, 70) || "—"),
      el("td", { class: "actions" }, s.status === "active"
        ? [el("button", { type: "button", class: "btn small edit-instructions", on: { click: () => editInstructions(s, refresh) } }, "Edit instructions"),
          el("button", { type: "button", class: "btn small danger", on: { click: () => endStream(s, problem, refresh) } }, "End")]
        : null)));
    replace(body, table(["Name", "Session", "Status", "Tasks", "Instructions", ""], rows,
      { empty: "No streams yet. A stream is a lane of work inside a session." }));
  }

  const refresh = refresher(load, problem, () => alive);

  async function openCreate() {
    let sessions = [];
    try {
      sessions = (await api.get("/api/sessions", { status: "active" })).sessions || [];
    } catch (err) {
      replace(problem, errorPanel(describe(err)));
      return;
    }
    const name = field("Name", el("input", { type: "text", name: "name", required: true, autocomplete: "off", maxlength: 64, placeholder: "e.g. backend" }),
      { hint: "Unique across sessions. Letters, digits, '.', '_' and '-'." });
    const session = field("Session", el("select", { name: "session", required: true },
      el("option", { value: "" }, sessions.length ? "— choose a session —" : "— no active session: create one first —"),
      sessions.map((s, i) => el("option", { value: s.id, selected: sessions.length === 1 && i === 0 }, s.name))));
    const instructions = field("Instructions", el("textarea", { name: "instructions", rows: 5, placeholder: "What a worker on this stream should know (optional)" }));
    const message = messageLine();
    const submit = el("button", { type: "submit", class: "btn primary" }, "Create stream");
    const form = el("form", { class: "modal-form", id: "stream-form", novalidate: true },
      name.row, session.row, instructions.row, message.node,
      el("div", { class: "modal-actions" },
        el("button", { type: "button", class: "btn", on: { click: () => modal.close() } }, "Cancel"), submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = name.input.value.trim();
      name.setError(value ? "" : "A name is required");
      session.setError(session.input.value ? "" : "Choose a session");
      if (!value) return name.input.focus();
      if (!session.input.value) return session.input.focus();
      const body = { name: value, session_id: session.input.value };
      if (instructions.input.value.trim()) body.instructions = instructions.input.value;
      await submitCreate({ path: "/api/streams", body, label: `Stream ${value}`, submit, message, modal, refresh });
    });
    const modal = openModal({ title: "New stream", content: form });
  }

  refresh();
  return { refresh, dispose: () => { alive = false; } };
}
