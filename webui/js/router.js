// Hash routes: #/dashboard, #/sessions, #/streams, #/streams/<name>, #/tasks, #/tasks/<id>, #/enqueue (with ?query).

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [pathPart, queryPart = ""] = raw.split("?");
  const parts = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  const query = Object.fromEntries(new URLSearchParams(queryPart));
  if (parts.length === 0) return { name: "dashboard", params: {}, query };
  if (parts[0] === "tasks" && parts[1]) return { name: "task", params: { id: parts[1] }, query };
  if (parts[0] === "streams" && parts[1]) return { name: "stream", params: { name: parts[1] }, query };
  return { name: parts[0], params: {}, query };
}

/** Build "#/tasks?status=queued" from a route name and query, leaving out empty values. */
export function href(path, query = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const text = q.toString();
  return `#/${path}${text ? `?${text}` : ""}`;
}

export function go(path, query) {
  location.hash = href(path, query);
}
