// Small shared widgets: status badges, field rows, messages, tables.
import { el, uid, replace } from "./dom.js";

export function statusBadge(status, extra = {}) {
  const classes = ["badge", `status-${status}`];
  let label = status;
  if (extra.auto_failed) {
    classes.push("auto-failed");
    label = "failed (auto)";
  } else if (extra.stale) {
    classes.push("stale");
    label = `${status} ⚠ stale`;
  }
  return el("span", { class: classes }, label);
}

/** A labelled form field: returns {row, input, error, setError}. */
export function field(label, input, { hint, wide } = {}) {
  if (!input.id) input.id = uid("field");
  const error = el("div", { class: "field-error", id: `${input.id}-error`, role: "alert" });
  const hintNode = hint ? el("div", { class: "field-hint", id: `${input.id}-hint` }, hint) : null;
  const describedBy = [hintNode ? hintNode.id : null, error.id].filter(Boolean).join(" ");
  input.setAttribute("aria-describedby", describedBy);
  const row = el("div", { class: ["field", wide ? "wide" : null] },
    el("label", { for: input.id }, label), input, hintNode, error);
  function setError(message) {
    replace(error, message || "");
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
  return { row, input, error, setError };
}

/** A message line (role=status or alert) that can be set later. */
export function messageLine(className = "form-message") {
  const node = el("div", { class: className, role: "status", "aria-live": "polite" });
  return {
    node,
    ok(text, ...more) {
      node.className = `${className} ok`;
      replace(node, text, ...more);
    },
    error(text) {
      node.className = `${className} error`;
      replace(node, text);
    },
    clear() {
      node.className = className;
      replace(node);
    },
  };
}

export function table(headers, rows, { empty = "Nothing here yet.", className = "" } = {}) {
  return el("table", { class: ["table", className] },
    el("thead", null, el("tr", null, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", null, rows.length ? rows : el("tr", { class: "empty" }, el("td", { colspan: headers.length }, empty))));
}

export function pageHeader(title, ...actions) {
  return el("div", { class: "page-header" }, el("h1", null, title), el("div", { class: "page-actions" }, actions));
}

export function toast(text, kind = "ok") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const node = el("div", { class: `toast ${kind}` }, text);
  box.append(node);
  setTimeout(() => node.remove(), 4000);
}

export function loading() {
  return el("p", { class: "muted loading" }, "Loading…");
}

export function errorPanel(message) {
  return el("div", { class: "error-panel", role: "alert" }, message);
}
