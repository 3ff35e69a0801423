// The server's public HTTP API, called with the user's key (kept in localStorage).

const KEY_STORE = "genmill.apiKey";

export const getKey = () => localStorage.getItem(KEY_STORE) || "";
export function setKey(key) {
  if (key) localStorage.setItem(KEY_STORE, key);
  else localStorage.removeItem(KEY_STORE);
}

export function authHeaders() {
  const key = getKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Both dialects' error shapes: Siray {"message", "error": {...}}, local {"status", "message"}.
function errorMessage(body, status) {
  if (body && typeof body === "object") {
    return body.message || body.error?.message || `HTTP ${status}`;
  }
  return `HTTP ${status}`;
}

const listeners = new Set();
// Called with the ApiError of every 401, so the page can ask for a key once.
export const onUnauthorized = (listener) => listeners.add(listener);

export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "The server cannot be reached.");
  }
  const parsed = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, errorMessage(parsed, response.status));
    if (response.status === 401) listeners.forEach((listener) => listener(error));
    throw error;
  }
  return parsed;
}

// Siray routes by kind: submit, and the status poll under the same prefix.
export const KIND_PATHS = {
  image: "/v1/images/generations/async",
  video: "/v1/video/generations",
  "3d": "/v1/3d/generations",
};

export const listTasks = ({ page, pageSize, kind, state, model }, signal) => {
  const query = new URLSearchParams({ page, page_size: pageSize });
  if (kind) query.set("kind", kind);
  if (state) query.set("state", state);
  if (model) query.set("model", model);
  return api(`/api/v1/tasks?${query}`, { signal }).then((reply) => reply.data);
};

export const getStatus = (kind, id) =>
  api(`${KIND_PATHS[kind]}/${encodeURIComponent(id)}`).then((reply) => reply.data);
export const getLocalTask = (id) =>
  api(`/api/v1/tasks/${encodeURIComponent(id)}`).then((reply) => reply.data);
export const getTaskResource = (id) =>
  api(`/v1/tasks/${encodeURIComponent(id)}`).then((reply) => reply.data);
export const submitTask = (kind, body) => api(KIND_PATHS[kind], { method: "POST", body });
export const cancelTask = (id) =>
  api(`/v1/tasks/${encodeURIComponent(id)}/cancel`, { method: "POST" }).then((r) => r.data);
export const deleteTask = (id) =>
  api(`/api/v1/tasks/${encodeURIComponent(id)}`, { method: "DELETE" });
export const listModels = () => api("/v1/models").then((reply) => reply.data);
