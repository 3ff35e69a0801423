// The dashboard's entry point: models and their forms, the task list, the open task, the
// key, and how changes arrive (events, else polls).

import {
  ApiError, getKey, getLocalTask, getTaskResource, listModels, onUnauthorized, setKey,
  submitTask,
} from "./api.js";
import { TaskDetail } from "./detail.js";
import { buildFields, fillFields, readFields } from "./form.js";
import { follow } from "./live.js";
import { closeLightbox, setupLightbox } from "./outputs.js";
import { TaskList } from "./tasks.js";
import { $, el } from "./util.js";

const POLL_MS = 1500;
const PARAMS_STORE = "genmill.params"; // params of tasks this browser submitted
const PARAMS_KEPT = 500;

const models = new Map();
let current = null; // {model, fields}
let image = ""; // the chosen input image: a data: URL or an http(s) URL
let mode = "connecting";
let stopFollowing = () => {};
let pollTimer = 0;

const modelName = (id) => models.get(id)?.model_name || id || "task";

// --- messages --------------------------------------------------------------------------

function notify(message) {
  $("notice-text").textContent = message;
  $("notice").hidden = false;
}

function reportError(error) {
  if (error?.name === "AbortError" || error?.status === 401) return; // 401: the key dialog
  notify(error instanceof ApiError ? error.message : String(error));
}

// --- the key ---------------------------------------------------------------------------

function askForKey(message) {
  $("key-message").textContent = message;
  $("key-input").value = getKey();
  if (!$("key-dialog").open) $("key-dialog").showModal();
  $("key-input").focus();
}

onUnauthorized((error) => {
  askForKey(getKey()
    ? `This key was refused (${error.message}). Enter a valid API key.`
    : "This server needs an API key. Enter yours to see and submit tasks.");
});

$("key-button").addEventListener("click", () => askForKey(getKey()
  ? "The key in use is kept in this browser. Enter another to switch."
  : "No key is set. Servers with keys configured need one."));
$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  setKey($("key-input").value.trim());
  $("key-dialog").close();
  start();
});
$("key-forget").addEventListener("click", () => {
  setKey("");
  $("key-dialog").close();
  start();
});

// --- params remembered per task --------------------------------------------------------

function rememberParams(id, model, params) {
  let kept = {};
  try {
    kept = JSON.parse(localStorage.getItem(PARAMS_STORE) || "{}");
  } catch { /* a damaged entry: start again */ }
  kept[id] = { model, params };
  const ids = Object.keys(kept);
  for (const old of ids.slice(0, Math.max(0, ids.length - PARAMS_KEPT))) delete kept[old];
  localStorage.setItem(PARAMS_STORE, JSON.stringify(kept));
}

// The server's own record (the task resource, with the events route) first; else what this
// browser remembers of its own submits.
async function paramsOf(id) {
  if (mode === "events") {
    try {
      const task = await getTaskResource(id);
      if (task?.params) return { model: task.model, params: task.params };
    } catch { /* fall back to the browser's record */ }
  }
  try {
    return JSON.parse(localStorage.getItem(PARAMS_STORE) || "{}")[id] || null;
  } catch {
    return null;
  }
}

// --- models and the form ---------------------------------------------------------------

function renderModels() {
  const list = $("models");
  list.replaceChildren(...[...models.values()].map((model) => el("button", {
    type: "button", role: "radio", class: "model", "aria-checked": "false",
    "data-model": model.id, onclick: () => choose(model.id),
  }, el("span", { class: "model-name" }, model.model_name || model.id),
  el("span", { class: "model-tag" }, model.tag),
  el("span", { class: "model-description" }, model.description || ""))));
  const select = $("filter-model");
  select.replaceChildren(el("option", { value: "" }, "all"),
    ...[...models.values()].map((m) => el("option", { value: m.id }, m.model_name || m.id)));
  list.addEventListener("keydown", (event) => {
    const buttons = [...list.querySelectorAll(".model")];
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    event.preventDefault();
    buttons[(at + step + buttons.length) % buttons.length].focus();
  });
}

function choose(id, params) {
  const model = models.get(id);
  if (!model) return;
  for (const button of $("models").querySelectorAll(".model")) {
    const on = button.dataset.model === id;
    button.setAttribute("aria-checked", String(on));
    button.tabIndex = on ? 0 : -1;
  }
  const fields = buildFields(model);
  current = { model, fields };
  $("form-title").textContent = model.model_name || model.id;
  $("form-mode").textContent = `${model.id} · ${model.tag}`;
  $("form-description").textContent = model.description || "";
  $("fields").replaceChildren(...fields.map((f) => f.node));
  const needsImage = (model.tag || "").startsWith("image-to-");
  $("image-input").hidden = !needsImage;
  setImage("");
  $("image-url").value = "";
  $("form-error").hidden = true;
  if (params) {
    fillFields(fields, params.params || {});
    if (params.image && !params.image.startsWith("data:")) {
      $("image-url").value = params.image;
      setImage(params.image);
    }
  }
  $("submit-form").hidden = false;
}

function setImage(value) {
  image = value;
  const preview = $("image-preview");
  preview.hidden = !value;
  if (value) preview.src = value;
  else preview.removeAttribute("src");
}

function readFile(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) {
    formError(`${file.name}: not an image`);
    return;
  }
  const reader = new FileReader();
  reader.onload = () => {
    $("image-url").value = "";
    setImage(reader.result);
    $("form-error").hidden = true;
  };
  reader.readAsDataURL(file);
}

function setupImageInput() {
  $("image-file").addEventListener("change", (event) => readFile(event.target.files[0]));
  $("image-url").addEventListener("input", (event) => setImage(event.target.value.trim()));
  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    readFile(event.dataTransfer.files[0]);
  });
}

function formError(message) {
  $("form-error").textContent = message;
  $("form-error").hidden = false;
}

async function submit(event) {
  event.preventDefault();
  if (!current) return;
  const form = $("submit-form");
  if (!form.checkValidity()) {
    form.reportValidity();
    const bad = form.querySelector(":invalid");
    formError(`${bad?.labels?.[0]?.textContent.replace(" *", "") || "A field"}: ` +
      `${bad?.validationMessage || "invalid"}`);
    return;
  }
  const { model, fields } = current;
  let params;
  try {
    params = readFields(fields);
  } catch (error) {
    formError(error.message);
    return;
  }
  const body = { model: model.id, ...params };
  if (!$("image-input").hidden) {
    if (!image) {
      formError("Input image: choose a file, drop one here, or give its URL.");
      return;
    }
    body.image = image;
  }
  $("submit").disabled = true;
  $("form-error").hidden = true;
  try {
    const reply = await submitTask(model.kind, body);
    const id = reply.task_id || reply.data?.task_id;
    rememberParams(id, model.id, image.startsWith("data:") ? params
      : { ...params, ...(image ? { image } : {}) });
    tasks.page = 1;
    await tasks.refresh();
    // Shown even when the list's filters hide it.
    openTask(tasks.tasks.get(id) || await getLocalTask(id));
  } catch (error) {
    if (error.status !== 401) formError(error.message);
  } finally {
    $("submit").disabled = false;
  }
}

// --- tasks -----------------------------------------------------------------------------

const detail = new TaskDetail({
  modelName,
  paramsOf,
  onError: reportError,
  onAgain: (params) => {
    choose(params.model, { params: params.params, image: params.params?.image });
    $("submit-form").scrollIntoView({ block: "start" });
    $("fields").querySelector("input, textarea, select")?.focus();
  },
  onChanged: (id, what) => {
    if (what === "closed") tasks.select("");
    else tasks.refresh();
  },
});

const tasks = new TaskList({ modelName, onError: reportError, onOpen: openTask });

function openTask(task) {
  tasks.select(task.task_id);
  detail.open(task);
}

let refreshSoon = 0;
function onTask(data) {
  const listed = tasks.update(data);
  detail.update(data);
  // A task not on this page: a new one appears at the top of page 1.
  if (!listed && !refreshSoon && tasks.isNewForThisPage(data)) {
    refreshSoon = setTimeout(() => {
      refreshSoon = 0;
      tasks.refresh();
    }, 250);
  }
}

function setMode(next) {
  mode = next;
  $("live").textContent = { events: "● live", polling: "updates every 1.5 s",
    reconnecting: "reconnecting…", connecting: "connecting…" }[next] || next;
  $("live").dataset.mode = next;
  clearInterval(pollTimer);
  if (next === "polling") {
    pollTimer = setInterval(() => {
      if (document.hidden) return;
      tasks.refresh();
      detail.poll();
    }, POLL_MS);
  }
  if (next === "events") tasks.refresh(); // catch up on what changed while away
}

// --- start -----------------------------------------------------------------------------

async function start() {
  stopFollowing();
  clearInterval(pollTimer);
  detail.close();
  $("notice").hidden = true;
  setMode("connecting");
  let list;
  try {
    list = await listModels();
  } catch (error) {
    if (error.status !== 401) notify(`Models could not be loaded: ${error.message}`);
    $("live").textContent = error.status === 401 ? "no valid key" : "offline";
    $("tasks").replaceChildren();
    $("tasks-empty").hidden = false;
    $("tasks-empty").textContent = error.status === 401
      ? "Enter a valid API key to see tasks." : "The server cannot be reached.";
    return;
  }
  models.clear();
  for (const model of list) models.set(model.id, model);
  renderModels();
  if (!current || !models.has(current.model.id)) choose(list[0]?.id);
  else choose(current.model.id);
  await tasks.refresh();
  stopFollowing = follow({
    onTask,
    onMode: setMode,
    onUnauthorized: () => askForKey("This key was refused. Enter a valid API key."),
  });
}

$("submit-form").addEventListener("submit", submit);
$("filter-kind").addEventListener("change", (e) => tasks.setFilter("kind", e.target.value));
$("filter-state").addEventListener("change", (e) => tasks.setFilter("state", e.target.value));
$("filter-model").addEventListener("change", (e) => tasks.setFilter("model", e.target.value));
$("page-prev").addEventListener("click", () => tasks.goTo(tasks.page - 1));
$("page-next").addEventListener("click", () => tasks.goTo(tasks.page + 1));
$("notice-close").addEventListener("click", () => { $("notice").hidden = true; });
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !event.defaultPrevented && !$("key-dialog").open) {
    if (!closeLightbox()) detail.close();
  }
});
setupLightbox();
setupImageInput();
start();
