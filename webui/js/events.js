// The kinds of live events (`event:` of GET /api/events), named once for the UI. The server's list
// is `EventKind` in src/sparkq_adapters/event_kinds.py; tests/unit/test_event_kinds.py keeps the two equal.

export const EVENT = Object.freeze({
  TASK_ENQUEUED: "task.enqueued",
  TASK_REQUEUED: "task.requeued",
  TASK_CLAIMED: "task.claimed",
  TASK_COMPLETED: "task.completed",
  TASK_FAILED: "task.failed",
  TASK_AUTO_FAILED: "task.auto_failed",
  TASK_CANCELLED: "task.cancelled",
  TASK_HEARTBEAT: "task.heartbeat",
  SESSION_CREATED: "session.created",
  SESSION_UPDATED: "session.updated",
  SESSION_ENDED: "session.ended",
  STREAM_CREATED: "stream.created",
  STREAM_UPDATED: "stream.updated",
  STREAM_ENDED: "stream.ended",
});

/** Every kind: the live connection listens for each. */
export const EVENT_KINDS = Object.freeze(Object.values(EVENT));

/** The kinds after which the list of streams (with their sessions) may have changed. */
export const STREAM_LIST_EVENTS = new Set([
  EVENT.SESSION_CREATED, EVENT.SESSION_UPDATED, EVENT.SESSION_ENDED,
  EVENT.STREAM_CREATED, EVENT.STREAM_UPDATED, EVENT.STREAM_ENDED,
]);
