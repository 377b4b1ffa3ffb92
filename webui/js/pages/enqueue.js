// Enqueue: stream, tool (pre-fills the payload from its template), class, timeout, payload; inline validation.
import { api, enc } from "../api.js";
import { el, replace, uid } from "../dom.js";
import { duration, prettyJson } from "../format.js";
import { errorPanel, field, messageLine, pageHeader } from "../ui.js";
import { describe } from "./common.js";

export const title = "Enqueue";
const CLASSES = ["FAST_SCRIPT", "MEDIUM_SCRIPT", "LLM_LITE", "LLM_HEAVY"];

function templateText(tool) {
  return prettyJson(tool && tool.payload_template ? tool.payload_template : {});
}

export function mount(root, _params, query) {
  let alive = true;
  let tools = [];
  let scripts = [];
  let lastTemplate = "{}";
  const problem = el("div");
  const listId = uid("scripts");

  const stream = field("Stream", el("select", { name: "stream", id: "enqueue-stream" }));
  const tool = field("Tool", el("select", { name: "tool", id: "enqueue-tool" }));
  const taskClass = field("Task class", el("select", { name: "task_class", id: "enqueue-class" },
    el("option", { value: "" }, "the tool's class"), CLASSES.map((c) => el("option", { value: c }, c))));
  const timeout = field("Timeout override (seconds)", el("input", { type: "number", name: "timeout", id: "enqueue-timeout", min: 1, step: 1, inputmode: "numeric" }),
    { hint: "Empty: the tool's timeout." });
  const scriptList = el("datalist", { id: listId });
  const scriptInput = el("input", { type: "text", name: "script", id: "enqueue-script", list: listId, autocomplete: "off", placeholder: "start typing a script path" });
  const script = field("Script path", scriptInput, { hint: "Suggestions come from the script index; choosing one sets \"script\" in the payload." });
  const payload = field("Payload (JSON object)", el("textarea", { name: "payload", id: "enqueue-payload", rows: 10, class: "mono", spellcheck: "false" }),
    { wide: true });
  payload.input.value = "{}";
  const toolInfo = el("div", { class: "field-hint tool-info", id: "tool-info" });
  const message = messageLine("form-message enqueue-message");
  const result = el("div", { id: "enqueue-result", class: "enqueue-result" });
  const submit = el("button", { type: "submit", class: "btn primary", id: "enqueue-submit" }, "Enqueue");

  const form = el("form", { class: "form", id: "enqueue-form", novalidate: true },
    el("div", { class: "grid" }, stream.row, el("div", null, tool.row, toolInfo), taskClass.row, timeout.row),
    script.row, scriptList, payload.row,
    el("div", { class: "form-actions" }, submit), message.node, result);

  replace(root, pageHeader("Enqueue a task"), problem, form);

  tool.input.addEventListener("change", () => {
    const chosen = tools.find((t) => t.name === tool.input.value);
    tool.setError("");
    replace(toolInfo, chosen ? `${chosen.description || ""} · ${chosen.task_class}, timeout ${duration(chosen.timeout)}` : "");
    timeout.input.placeholder = chosen ? String(chosen.timeout) : "";
    taskClass.input.options[0].textContent = chosen ? `the tool's class (${chosen.task_class})` : "the tool's class";
    // replace the payload only while it is still the previous template (never the user's edits)
    const current = payload.input.value.trim();
    if (!current || current === lastTemplate.trim() || current === "{}") {
      lastTemplate = templateText(chosen);
      payload.input.value = lastTemplate;
      payload.setError("");
    }
  });
  stream.input.addEventListener("change", () => stream.setError(stream.input.value ? "" : "Choose a stream"));
  scriptInput.addEventListener("change", () => {
    const path = scriptInput.value.trim();
    if (!path) return;
    const found = scripts.find((s) => s.path === path);
    let data;
    try {
      data = JSON.parse(payload.input.value || "{}");
    } catch {
      payload.setError("Fix the payload JSON first; the script path is put into it");
      return;
    }
    if (data === null || typeof data !== "object" || Array.isArray(data)) return;
    data.script = path;
    payload.input.value = prettyJson(data);
    payload.setError("");
    script.setError("");
    if (found && found.description) scriptInput.title = found.description;
  });

  function validate() {
    let ok = true;
    const errors = [];
    if (!stream.input.value) {
      stream.setError("Choose a stream");
      errors.push(stream.input);
    } else stream.setError("");
    if (!tool.input.value) {
      tool.setError("Choose a tool");
      errors.push(tool.input);
    } else tool.setError("");
    let data = null;
    try {
      data = JSON.parse(payload.input.value.trim() || "{}");
      if (data === null || typeof data !== "object" || Array.isArray(data)) {
        payload.setError("The payload must be a JSON object, e.g. {\"script\": \"scripts/build.sh\"}");
        errors.push(payload.input);
        data = null;
      } else payload.setError("");
    } catch (err) {
      payload.setError(`The payload is not valid JSON: ${err.message}`);
      errors.push(payload.input);
    }
    const t = timeout.input.value.trim();
    if (t && !(/^\d+$/.test(t) && Number(t) >= 1)) {
      timeout.setError("A whole number of seconds, 1 or more");
      errors.push(timeout.input);
    } else timeout.setError("");
    if (errors.length) {
      ok = false;
      errors[0].focus();
    }
    return ok ? data : null;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.clear();
    replace(result);
    const data = validate();
    if (!data) {
      message.error("Fix the fields marked above.");
      return;
    }
    const body = { stream_id: stream.input.value, tool_name: tool.input.value, payload: data };
    if (taskClass.input.value) body.task_class = taskClass.input.value;
    if (timeout.input.value.trim()) body.timeout = Number(timeout.input.value.trim());
    submit.disabled = true;
    try {
      const answer = await api.post("/api/tasks", body);
      const id = answer.task.id;
      message.ok(`Task ${id} enqueued`);
      replace(result, el("a", { href: `#/tasks/${enc(id)}`, id: "enqueued-link" }, "Open the task →"));
    } catch (err) {
      message.error(describe(err));
    } finally {
      submit.disabled = false;
    }
  });

  let streamSignature = null;
  async function loadStreams() {
    const data = await api.get("/api/streams", { status: "active" });
    if (!alive) return;
    const selected = stream.input.value || query.stream_id || "";
    const list = data.streams || [];
    const signature = list.map((s) => `${s.id}:${s.name}`).join(",");
    if (signature === streamSignature) return; // unchanged: leave the open dropdown alone
    streamSignature = signature;
    replace(stream.input,
      el("option", { value: "" }, list.length ? "— choose a stream —" : "— no active stream: create one first —"),
      list.map((s) => el("option", { value: s.id, selected: s.id === selected || s.name === selected }, `${s.name} · ${s.session_name || ""}`)));
  }

  async function loadOnce() {
    const [toolData, scriptData] = await Promise.all([api.get("/api/tools"), api.get("/api/scripts").catch(() => ({ scripts: [] }))]);
    if (!alive) return;
    tools = toolData.tools || [];
    scripts = scriptData.scripts || [];
    replace(tool.input, el("option", { value: "" }, "— choose a tool —"),
      tools.map((t) => el("option", { value: t.name }, t.name)));
    replace(scriptList, scripts.map((s) => el("option", { value: s.path }, s.description ? `${s.name} — ${s.description}` : s.name)));
  }

  async function refresh() {
    try {
      await loadStreams();
      replace(problem);
    } catch (err) {
      if (alive) replace(problem, errorPanel(describe(err)));
    }
  }

  Promise.all([loadStreams(), loadOnce()]).catch((err) => alive && replace(problem, errorPanel(describe(err))));
  return { refresh, dispose: () => { alive = false; } };
}
