// Modal dialogs: focus the first field on open, Escape closes, Enter submits, focus returns.
import { el, uid } from "./dom.js";

const FOCUSABLE = "input, select, textarea, button, a[href], [tabindex]:not([tabindex='-1'])";
// the close() of every open modal: a modal belongs to its page and goes when the page does
const openModals = new Set();

/**
 * Open a modal around `content` (usually a <form>). Returns {close, root}.
 * `onClose` runs once when the modal goes away (by Escape, Cancel, backdrop or close()).
 */
export function openModal({ title, content, onClose }) {
  const previous = document.activeElement;
  const heading = el("h2", { id: uid("modal-title"), class: "modal-title" }, title);
  const dialog = el("div", { class: "modal", role: "dialog", "aria-modal": "true", "aria-labelledby": heading.id },
    heading, content);
  const backdrop = el("div", { class: "modal-backdrop" }, dialog);
  let closed = false;

  function close() {
    if (closed) return;
    closed = true;
    openModals.delete(close);
    document.removeEventListener("keydown", onKey, true);
    backdrop.remove();
    if (previous && typeof previous.focus === "function" && document.contains(previous)) previous.focus();
    if (onClose) onClose();
  }

  function onKey(event) {
    // with stacked modals (a confirmation over a form) only the top one answers keys
    const all = document.querySelectorAll(".modal-backdrop");
    if (all[all.length - 1] !== backdrop) return;
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === "Tab") {
      // keep focus inside the dialog
      const items = [...dialog.querySelectorAll(FOCUSABLE)].filter((n) => !n.disabled && n.offsetParent !== null);
      if (!items.length) return;
      const first = items[0];
      const last = items[items.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    }
  }

  backdrop.addEventListener("mousedown", (event) => {
    if (event.target === backdrop) close();
  });
  document.addEventListener("keydown", onKey, true);
  openModals.add(close);
  document.body.append(backdrop);
  const first = dialog.querySelector("input, select, textarea, button");
  if (first) first.focus();
  return { close, root: dialog };
}

/** Close every open modal, the top one first, as Cancel would (a question answers no). */
export function closeAllModals() {
  for (const close of [...openModals].reverse()) close();
}

/** Ask a yes/no question; resolves true when confirmed. */
export function confirmDialog({ title, message, confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    const yes = el("button", { type: "submit", class: danger ? "btn danger" : "btn primary" }, confirmLabel);
    const form = el("form", { class: "modal-form", novalidate: true },
      el("p", { class: "confirm-message" }, message),
      el("div", { class: "modal-actions" },
        el("button", { type: "button", class: "btn", on: { click: () => modal.close() } }, "Cancel"),
        yes));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      answer = true;
      modal.close();
    });
    const modal = openModal({ title, content: form, onClose: () => resolve(answer) });
    yes.focus();
  });
}
