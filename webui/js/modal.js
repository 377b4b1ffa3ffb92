// Modal dialogs on the native <dialog>: the browser traps focus, makes the page behind inert, and
// closes on Escape; we add: focus the first field on open, a backdrop click closes, focus returns.
import { el, uid } from "./dom.js";

// the close() of every open modal: a modal belongs to its page and goes when the page does
const openModals = new Set();

/** Whether a pointer event on the <dialog> itself fell outside its box, i.e. on its ::backdrop. */
function onBackdrop(dialog, event) {
  if (event.target !== dialog) return false;
  const box = dialog.getBoundingClientRect();
  return event.clientX < box.left || event.clientX > box.right || event.clientY < box.top || event.clientY > box.bottom;
}

/**
 * Open a modal around `content` (usually a <form>). Returns {close, root}.
 * `onClose` runs once when the modal goes away (by Escape, Cancel, backdrop or close()).
 */
export function openModal({ title, content, onClose }) {
  const previous = document.activeElement;
  const heading = el("h2", { id: uid("modal-title"), class: "modal-title" }, title);
  const dialog = el("dialog", { class: "modal", role: "dialog", "aria-labelledby": heading.id }, heading, content);
  let closed = false;

  // Runs at once when we close it (a route change must leave no dialog behind, not one a task
  // later), and on the dialog's own "close" event when the browser closed it (Escape).
  function close() {
    if (closed) return;
    closed = true;
    openModals.delete(close);
    if (dialog.open) dialog.close();
    dialog.remove();
    if (previous && typeof previous.focus === "function" && document.contains(previous)) previous.focus();
    if (onClose) onClose();
  }

  dialog.addEventListener("close", close);
  // mousedown, not click: a drag that starts in a field and ends outside must not close the form
  dialog.addEventListener("mousedown", (event) => {
    if (onBackdrop(dialog, event)) close();
  });
  openModals.add(close);
  document.body.append(dialog);
  dialog.showModal();
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
