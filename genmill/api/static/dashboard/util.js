// Small DOM and formatting helpers shared by the dashboard's modules.

export const $ = (id) => document.getElementById(id);

// el("li", {class: "row", onclick: f}, child, "text", …): children may be nodes or strings.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

const FINAL = new Set(["SUCCESS", "FAILURE"]);
export const isFinal = (status) => FINAL.has(status);

// Status names as a person reads them.
const LABELS = {
  NOT_START: "waiting", SUBMITTED: "submitted", QUEUED: "queued",
  IN_PROGRESS: "running", SUCCESS: "done", FAILURE: "failed",
};
export const statusLabel = (task) =>
  task.status === "FAILURE" && task.fail_reason === "canceled" ? "canceled"
    : LABELS[task.status] || task.status.toLowerCase();

// The Siray documents write progress as "40%", the local API as 40.
export const percent = (value) => Math.max(0, Math.min(100, parseInt(value, 10) || 0));

const clock = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
export const formatTime = (unix) => (unix ? clock.format(new Date(unix * 1000)) : "—");

export function formatDuration(seconds) {
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes} min ${seconds % 60} s`
    : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function ago(unix) {
  if (!unix) return "";
  const seconds = Math.max(0, Math.round(Date.now() / 1000 - unix));
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return formatTime(unix);
}

// The output's file name from its URL (/tasks/{id}/{name}).
export const outputName = (url) => decodeURIComponent(new URL(url, location.href)
  .pathname.split("/").pop());

export const extension = (name) => {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
};
