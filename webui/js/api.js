// The REST API, same origin. State changes always send JSON (the server refuses anything else).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, { params, body } = {}) {
  let url = path;
  if (params) {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== null && v !== "") query.set(k, String(v));
    }
    const text = query.toString();
    if (text) url += `?${text}`;
  }
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "unreachable", "The SparkQ server cannot be reached; is `sparkq run` running?");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const err = data && data.error;
    const message = err && err.message ? err.message : `The server answered ${response.status} ${response.statusText}`;
    throw new ApiError(response.status, err ? err.code : "http_error", message);
  }
  return data;
}

export const api = {
  get: (path, params) => request("GET", path, { params }),
  post: (path, body) => request("POST", path, { body }),
  put: (path, body) => request("PUT", path, { body }),
};

/** Shorthands for the endpoints the pages use. */
export const enc = encodeURIComponent;
