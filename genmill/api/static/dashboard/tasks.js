// The task list: one page of `GET /api/v1/tasks` with filters, kept live by events (or
// polls). Rows are kept per task id and updated in place, so a progress change touches two
// style properties, not the list.

import { listTasks } from "./api.js";
import { $, ago, el, extension, isFinal, outputName, percent, statusLabel } from "./util.js";

const THUMB = new Set(["png", "jpg", "jpeg", "webp", "gif"]);
const KIND_LABEL = { image: "IMG", video: "VID", "3d": "3D" };

export class TaskList {
  constructor({ onOpen, modelName, onError }) {
    this.onOpen = onOpen;
    this.modelName = modelName;
    this.onError = onError;
    this.page = 1;
    this.pageSize = 20;
    this.total = 0;
    this.filters = { kind: "", state: "", model: "" };
    this.tasks = new Map(); // id -> task, this page only
    this.rows = new Map(); // id -> {node, parts}
    this.pending = new Map(); // id -> event data waiting for the next frame
    this.frame = 0;
    this.loading = null;
    this.loaded = false;
    this.selected = "";
  }

  setFilter(name, value) {
    this.filters[name] = value;
    this.page = 1;
    return this.refresh();
  }

  goTo(page) {
    this.page = Math.max(1, page);
    return this.refresh();
  }

  // One request at a time: a refresh asked for while one runs follows it.
  refresh() {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = this.load().finally(() => {
      this.loading = null;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    });
    return this.loading;
  }

  async load() {
    let data;
    try {
      data = await listTasks({ page: this.page, pageSize: this.pageSize, ...this.filters });
    } catch (error) {
      this.onError(error);
      return;
    }
    const pages = Math.max(1, Math.ceil(data.total / this.pageSize));
    if (this.page > pages && data.total > 0) {
      this.page = pages; // the last page emptied (deletes): show the one before
      return this.load();
    }
    this.total = data.total;
    this.tasks = new Map(data.tasks.map((t) => [t.task_id, t]));
    this.render();
  }

  render() {
    const list = $("tasks");
    const keep = new Map();
    const nodes = [];
    for (const task of this.tasks.values()) {
      const row = this.rows.get(task.task_id) || this.makeRow(task);
      this.fill(row, task);
      keep.set(task.task_id, row);
      nodes.push(row.node);
    }
    this.rows = keep;
    list.replaceChildren(...nodes);
    // The first list on screen, for bench/dashboard.py (a mark costs nothing).
    if (!this.loaded) performance.mark("genmill:tasks-listed");
    this.loaded = true;
    $("tasks-empty").hidden = this.tasks.size > 0;
    $("tasks-empty").textContent = Object.values(this.filters).some(Boolean)
      ? "No tasks match these filters." : "No tasks yet: submit one from a model's form.";
    const pages = Math.max(1, Math.ceil(this.total / this.pageSize));
    $("page-info").textContent =
      `page ${this.page} of ${pages} · ${this.total} task${this.total === 1 ? "" : "s"}`;
    $("page-prev").disabled = this.page <= 1;
    $("page-next").disabled = this.page >= pages;
  }

  makeRow(task) {
    const parts = {
      thumb: el("span", { class: "row-thumb", "aria-hidden": "true" }),
      title: el("span", { class: "row-title" }),
      meta: el("span", { class: "row-meta" }),
      badge: el("span", { class: "badge" }),
      fill: el("div", { class: "bar-fill" }),
    };
    parts.bar = el("div", { class: "bar-track", role: "progressbar", "aria-valuemin": "0",
      "aria-valuemax": "100", "aria-label": "Progress" }, parts.fill);
    const button = el("button", { type: "button", class: "row",
      onclick: () => this.onOpen(this.tasks.get(task.task_id) || task) },
    parts.thumb, el("span", { class: "row-text" }, parts.title, parts.meta),
    el("span", { class: "row-state" }, parts.badge, parts.bar));
    const node = el("li", { "data-task-id": task.task_id }, button);
    return { node, parts, button, thumbUrl: "" };
  }

  fill(row, task) {
    const { parts } = row;
    const progress = percent(task.progress);
    parts.title.textContent = this.modelName(task.model);
    parts.meta.textContent = `${task.task_id.slice(0, 8)} · ${ago(task.submit_time)}`;
    parts.badge.textContent = statusLabel(task);
    parts.badge.className = `badge ${task.status.toLowerCase()}`;
    parts.fill.style.width = `${progress}%`;
    parts.bar.setAttribute("aria-valuenow", String(progress));
    parts.bar.classList.toggle("done", isFinal(task.status));
    row.node.dataset.status = task.status;
    row.node.classList.toggle("selected", task.task_id === this.selected);
    row.button.setAttribute("aria-label",
      `${this.modelName(task.model)}, ${statusLabel(task)}, ${progress}%`);
    const image = (task.outputs || []).find((u) => THUMB.has(extension(outputName(u))));
    if (image !== row.thumbUrl) {
      row.thumbUrl = image;
      parts.thumb.replaceChildren(image
        ? el("img", { src: image, alt: "", loading: "lazy", decoding: "async" })
        : KIND_LABEL[task.kind] || "");
    }
  }

  select(id) {
    this.selected = id;
    for (const [taskId, row] of this.rows) row.node.classList.toggle("selected", taskId === id);
  }

  // An event for a task. Changes are applied once per animation frame (many events for one
  // task in a frame cost one update). Returns false if the task is not on this page.
  update(data) {
    if (!this.tasks.has(data.task_id)) return false;
    this.pending.set(data.task_id, data);
    this.frame ||= requestAnimationFrame(() => this.flush());
    return true;
  }

  flush() {
    this.frame = 0;
    for (const [id, data] of this.pending) {
      const task = this.tasks.get(id);
      const row = this.rows.get(id);
      if (!task || !row) continue;
      Object.assign(task, merge(task, data));
      this.fill(row, task);
    }
    this.pending.clear();
  }

  // Whether a task first seen in an event is a new one for the top of page 1 (submitted
  // no earlier than the newest listed), not an older one from a later page.
  isNewForThisPage(data) {
    if (this.page !== 1) return false;
    let newest = 0;
    for (const task of this.tasks.values()) newest = Math.max(newest, task.submit_time || 0);
    return (data.submit_time || 0) >= newest;
  }
}

// The fields an event (the Siray status document's data) changes in a listed task.
export function merge(task, data) {
  const out = { status: data.status, progress: percent(data.progress) };
  for (const name of ["outputs", "fail_reason", "start_time", "finish_time", "submit_time",
    "queue_position"]) {
    if (data[name] !== undefined) out[name] = data[name];
  }
  return out;
}
