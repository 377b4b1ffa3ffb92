// Entry point: routes the hash to a page, refreshes it on live events, drives the server indicator.
import { replace, el } from "./dom.js";
import { Live } from "./live.js";
import { closeAllModals } from "./modal.js";
import { parseHash } from "./router.js";
import * as dashboard from "./pages/dashboard.js";
import * as sessions from "./pages/sessions.js";
import * as streams from "./pages/streams.js";
import * as stream from "./pages/stream.js";
import * as tasks from "./pages/tasks.js";
import * as task from "./pages/task.js";
import * as enqueue from "./pages/enqueue.js";

const PAGES = { dashboard, sessions, streams, stream, tasks, task, enqueue };
const NAV = { task: "tasks", stream: "streams" };
const DEBOUNCE_MS = 150;
// a slow poll on top of the events, for what changes with time alone (ages, stale flags)
const PERIODIC_MS = 10000;

const root = document.getElementById("app");
let current = null; // {page, name, refreshing, again}
let debounce = null;
// the event kinds since the last refresh, handed to the page's refresh so it fetches only what they
// touch (the task list re-reads the stream list only after a stream or session event); null: anything
// may have changed (events may have been missed while the server was away)
let changes = new Set();

function show() {
  const route = parseHash();
  const module = PAGES[route.name];
  // a form left open would act on the page it came from (Back from "Fail…" must not fail that task)
  closeAllModals();
  if (current && current.page.dispose) current.page.dispose();
  replace(root);
  for (const link of document.querySelectorAll(".nav a")) {
    link.classList.toggle("active", link.dataset.route === (NAV[route.name] || route.name));
    if (link.classList.contains("active")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!module) {
    current = null;
    root.append(el("h1", null, "Not found"), el("p", null, "No such page. ", el("a", { href: "#/dashboard" }, "Go to the dashboard")));
    return;
  }
  document.title = `SparkQ · ${module.title || route.name}`;
  changes = new Set(); // the new page reads everything as it mounts
  current = { page: module.mount(root, route.params, route.query), refreshing: false, again: false };
}

/** Refresh the current page's data; never two refreshes at once (a second one runs after). */
async function refresh() {
  const target = current;
  if (!target || !target.page.refresh) return;
  if (target.refreshing) {
    target.again = true;
    return;
  }
  target.refreshing = true;
  const seen = changes;
  changes = new Set();
  try {
    await target.page.refresh(seen);
  } catch (err) {
    console.warn("refresh failed", err);
  } finally {
    target.refreshing = false;
    if (target.again && target === current) {
      target.again = false;
      refresh();
    }
  }
}

/** Refresh shortly, for a change of `kind` (one of EVENT_KINDS, events.js); no kind: anything may have changed. */
function refreshSoon(kind) {
  if (changes !== null) {
    if (kind) changes.add(kind);
    else changes = null;
  }
  clearTimeout(debounce);
  debounce = setTimeout(refresh, DEBOUNCE_MS);
}

const indicator = document.getElementById("server-status");
const live = new Live({
  onEvent: (event) => refreshSoon(event && event.kind),
  onState: (state, was) => {
    indicator.dataset.state = state;
    indicator.querySelector(".label").textContent = state === "up" ? "Server online" : "Server unreachable";
    indicator.title = state === "up" ? "Connected to the SparkQ server (live updates on)" : "The SparkQ server does not answer; retrying…";
    if (state === "up" && was === "down") refreshSoon();
  },
});

window.addEventListener("hashchange", show);
setInterval(() => {
  if (document.visibilityState === "visible" && live.state !== "down") refresh();
}, PERIODIC_MS);
show();
live.start();
