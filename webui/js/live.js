// Live updates and the server indicator: an EventSource on /api/events, plus /api/health checks.

import { EVENT_KINDS } from "./events.js";

const DOWN_POLL_MS = 2000;
const UP_POLL_MS = 15000;

export class Live {
  /** onEvent(event) for each change; onState("up" | "down") when the server comes or goes. */
  constructor({ onEvent, onState }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.state = "unknown";
    this.source = null;
    this.timer = null;
    this.checking = false;
  }

  start() {
    this.connect();
    this.schedule(UP_POLL_MS);
  }

  connect() {
    if (this.source) this.source.close();
    const source = new EventSource("/api/events");
    this.source = source;
    source.addEventListener("open", () => this.setState("up"));
    source.addEventListener("error", () => this.check());
    for (const kind of EVENT_KINDS) {
      source.addEventListener(kind, (message) => {
        let data = null;
        try {
          data = JSON.parse(message.data);
        } catch {
          data = { kind };
        }
        this.onEvent(data);
      });
    }
  }

  schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.check(), ms);
  }

  /** Ask /api/health; red while it fails, green (and a fresh event stream if needed) when it answers. */
  async check() {
    if (this.checking) return;
    this.checking = true;
    let ok = false;
    try {
      const controller = new AbortController();
      const t = setTimeout(() => controller.abort(), 3000);
      const response = await fetch("/api/health", { cache: "no-store", signal: controller.signal });
      clearTimeout(t);
      ok = response.ok;
    } catch {
      ok = false;
    }
    this.checking = false;
    if (ok) {
      // the browser retries a dropped stream by itself, but gives up after a bad answer
      if (!this.source || this.source.readyState === EventSource.CLOSED) this.connect();
      this.setState("up");
      this.schedule(UP_POLL_MS);
    } else {
      this.setState("down");
      this.schedule(DOWN_POLL_MS);
    }
  }

  setState(state) {
    if (state === this.state) return;
    const was = this.state;
    this.state = state;
    this.onState(state, was);
  }
}
