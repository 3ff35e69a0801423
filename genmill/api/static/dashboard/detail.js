// One task in the side panel: status, progress, queue position, timings, params,
// fail_reason, its outputs, and cancel / delete / use the params again.

import { cancelTask, deleteTask, getStatus } from "./api.js";
import { renderOutputs } from "./outputs.js";
import { merge } from "./tasks.js";
import { $, el, formatDuration, formatTime, isFinal, percent, statusLabel } from "./util.js";

export class TaskDetail {
  constructor({ modelName, paramsOf, onAgain, onChanged, onError }) {
    this.modelName = modelName;
    this.paramsOf = paramsOf;
    this.onAgain = onAgain;
    this.onChanged = onChanged;
    this.onError = onError;
    this.task = null;
    this.outputsShown = "";
    this.confirming = 0;
    this.polling = false;
    $("task-close").addEventListener("click", () => this.close());
    $("task-cancel").addEventListener("click", () => this.cancel());
    $("task-delete").addEventListener("click", () => this.remove());
    $("task-again").addEventListener("click", () => this.again());
  }

  get id() {
    return this.task?.task_id || "";
  }

  async open(task) {
    const returning = this.id === task.task_id;
    this.task = { ...task };
    if (!returning) this.outputsShown = null;
    this.resetDelete();
    $("task").hidden = false;
    document.body.classList.add("task-open");
    this.render();
    $("task-title").focus();
    const params = await this.paramsOf(task.task_id);
    if (this.id !== task.task_id) return;
    this.params = params;
    $("task-params").textContent = params
      ? JSON.stringify(params.params, null, 2)
      : "Not known here: this browser did not submit the task, and the server does not say.";
    $("task-again").disabled = !params;
  }

  close() {
    if ($("task").hidden) return false;
    $("task").hidden = true;
    document.body.classList.remove("task-open");
    const closed = this.id;
    this.task = null;
    this.onChanged?.(closed, "closed");
    return true;
  }

  // An event or a poll for the open task.
  update(data) {
    if (!this.task || data.task_id !== this.id) return;
    Object.assign(this.task, merge(this.task, data));
    this.render();
  }

  // In polling mode: the open task's Siray status route, until it is final.
  async poll() {
    if (!this.task || isFinal(this.task.status) || this.polling) return;
    this.polling = true;
    const { task_id: id, kind } = this.task;
    try {
      const data = await getStatus(kind, id);
      this.update({ ...data, task_id: id });
    } catch (error) {
      if (error.status === 404 && this.id === id) this.gone();
      else if (error.status !== 404) this.onError(error);
    } finally {
      this.polling = false;
    }
  }

  render() {
    const task = this.task;
    const progress = percent(task.progress);
    $("task-title").textContent = this.modelName(task.model);
    $("task-id").textContent = task.task_id;
    $("task-badge").textContent = statusLabel(task);
    $("task-badge").className = `badge ${task.status.toLowerCase()}`;
    $("task-progress").querySelector(".bar-fill").style.width = `${progress}%`;
    $("task-progress").setAttribute("aria-valuenow", String(progress));
    $("task-progress").classList.toggle("done", isFinal(task.status));
    $("task-percent").textContent = `${progress}%`;
    const waiting = task.queue_position !== null && task.queue_position !== undefined
      && !isFinal(task.status) && task.status !== "IN_PROGRESS";
    $("task-queue").hidden = !waiting;
    if (waiting) {
      $("task-queue").textContent = task.queue_position === 0
        ? "Next in the queue." : `${task.queue_position} task(s) ahead in the queue.`;
    }
    const failed = task.status === "FAILURE" && task.fail_reason;
    $("task-fail").hidden = !failed;
    $("task-fail").textContent = failed ? `Failed: ${task.fail_reason}` : "";
    $("task-cancel").hidden = isFinal(task.status);
    this.renderTimes(task);
    const shown = JSON.stringify(task.outputs || []);
    if (shown !== this.outputsShown) {
      this.outputsShown = shown; // re-rendering would restart a playing video
      renderOutputs($("task-outputs"), task);
    }
  }

  renderTimes(task) {
    const rows = [["Submitted", formatTime(task.submit_time)]];
    if (task.start_time) {
      rows.push(["Started", formatTime(task.start_time)],
        ["Waited", formatDuration(Math.max(0, task.start_time - task.submit_time))]);
    }
    if (task.finish_time) {
      rows.push(["Finished", formatTime(task.finish_time)]);
      if (task.start_time) {
        rows.push(["Ran", formatDuration(Math.max(0, task.finish_time - task.start_time))]);
      }
    }
    $("task-times").replaceChildren(...rows.flatMap(([name, value]) =>
      [el("dt", {}, name), el("dd", {}, value)]));
  }

  async cancel() {
    const id = this.id;
    $("task-cancel").disabled = true;
    try {
      const data = await cancelTask(id);
      this.update({ ...data, task_id: id });
      this.onChanged?.(id, "canceled");
    } catch (error) {
      this.onError(error);
    } finally {
      $("task-cancel").disabled = false;
    }
  }

  // Two presses: the first asks, the second (within 5 s) deletes.
  async remove() {
    const button = $("task-delete");
    if (!this.confirming) {
      button.textContent = "Delete for good?";
      button.classList.add("confirm");
      this.confirming = setTimeout(() => this.resetDelete(), 5000);
      return;
    }
    this.resetDelete();
    const id = this.id;
    try {
      await deleteTask(id);
    } catch (error) {
      if (error.status !== 404) return this.onError(error);
    }
    this.gone();
  }

  resetDelete() {
    clearTimeout(this.confirming);
    this.confirming = 0;
    $("task-delete").textContent = "Delete";
    $("task-delete").classList.remove("confirm");
  }

  gone() {
    const id = this.id;
    this.close();
    this.onChanged?.(id, "deleted");
  }

  again() {
    if (this.params) this.onAgain(this.params);
  }
}
