// Sessions: table, create (modal), end (with confirmation).
import { api } from "../api.js";
import { el, replace } from "../dom.js";
import { openModal } from "../modal.js";
import { field, messageLine, pageHeader, statusBadge, table } from "../ui.js";
import { endAfterConfirm, refresher, submitCreate, timeCell, touchesStreams } from "./common.js";

export const title = "Sessions";

export function mount(root) {
  let alive = true;
  const problem = el("div");
  const body = el("div", { id: "sessions-table" }, el("p", { class: "muted" }, "Loading…"));
  const create = el("button", { type: "button", class: "btn primary", id: "new-session", on: { click: () => openCreate(create) } }, "New session");
  replace(root, pageHeader("Sessions", create), problem, body);

  // streams per session, read as the page mounts and again only after a stream or session event
  // (a task event changes nothing here): a refresh is then the one /api/sessions request
  let perSession = null;

  async function load(changes) {
    const reread = perSession === null || touchesStreams(changes);
    if (reread) perSession = null; // a failed read is retried by the next refresh
    const [sessions, streams] = await Promise.all([api.get("/api/sessions"), reread ? api.get("/api/streams") : null]);
    if (!alive) return;
    replace(problem);
    if (streams) {
      perSession = new Map();
      for (const s of streams.streams || []) {
        const c = perSession.get(s.session_id) || { all: 0, active: 0 };
        c.all += 1;
        if (s.status === "active") c.active += 1;
        perSession.set(s.session_id, c);
      }
    }
    const rows = (sessions.sessions || []).map((s) => {
      const c = perSession.get(s.id) || { all: 0, active: 0 };
      return el("tr", { dataset: { sessionId: s.id, name: s.name } },
        el("td", { class: "name" }, s.name, s.description ? el("div", { class: "muted small" }, s.description) : null),
        el("td", null, statusBadge(s.status)),
        timeCell(s.started_at),
        el("td", { class: "num" }, c.all === c.active ? String(c.all) : `${c.active} active / ${c.all}`),
        el("td", { class: "actions" }, s.status === "active"
          ? el("button", { type: "button", class: "btn small danger", on: { click: (e) => end(s, e.currentTarget) } }, "End")
          : (s.ended_at ? el("span", { class: "muted small" }, "ended") : null)));
    });
    replace(body, table(["Name", "Status", "Started", "Streams", ""], rows,
      { empty: "No sessions yet. Create one to start organising work into streams." }));
  }

  const refresh = refresher(load, problem, () => alive);

  async function end(session) {
    const consequence = "Its active streams end too, and their queued tasks are cancelled (reason “stream ended”).";
    if (await endAfterConfirm("session", session, consequence, problem)) refresh();
  }

  function openCreate() {
    const name = field("Name", el("input", { type: "text", name: "name", required: true, autocomplete: "off", maxlength: 64, placeholder: "e.g. auth-refactor" }),
      { hint: "Letters, digits, '.', '_' and '-' (up to 64)." });
    const description = field("Description", el("textarea", { name: "description", rows: 3, placeholder: "optional" }));
    const message = messageLine();
    const submit = el("button", { type: "submit", class: "btn primary" }, "Create session");
    const form = el("form", { class: "modal-form", id: "session-form", novalidate: true },
      name.row, description.row, message.node,
      el("div", { class: "modal-actions" },
        el("button", { type: "button", class: "btn", on: { click: () => modal.close() } }, "Cancel"), submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = name.input.value.trim();
      name.setError(value ? "" : "A name is required");
      if (!value) return name.input.focus();
      const desc = description.input.value.trim();
      const body = desc ? { name: value, description: desc } : { name: value };
      await submitCreate({ path: "/api/sessions", body, label: `Session ${value}`, submit, message, modal, refresh });
    });
    const modal = openModal({ title: "New session", content: form });
  }

  refresh();
  return { refresh, dispose: () => { alive = false; } };
}
