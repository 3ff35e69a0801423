// A submit form generated from a model's params JSON schema (as `GET /v1/models` gives it).

import { el } from "./util.js";

// Fields that hold free text get a text area.
const LONG_TEXT = /prompt|script|text|subtitle|caption/i;

// `anyOf: [X, {type: null}]` is an optional X: the field may be left empty.
function unwrap(schema) {
  if (Array.isArray(schema.anyOf)) {
    const kinds = schema.anyOf.filter((s) => s.type !== "null");
    if (kinds.length === 1) return { ...schema, ...kinds[0], anyOf: undefined, nullable: true };
  }
  return schema;
}

function rangeHint(schema) {
  const low = schema.minimum ?? schema.exclusiveMinimum;
  const high = schema.maximum ?? schema.exclusiveMaximum;
  if (low !== undefined && high !== undefined) return `${low} to ${high}`;
  if (low !== undefined) return `at least ${low}`;
  if (high !== undefined) return `at most ${high}`;
  return "";
}

// One field: {name, node (the row), read() -> value or undefined, write(value)}.
function field(name, raw, required, modelId) {
  const schema = unwrap(raw);
  const id = `param-${modelId.replace(/\W/g, "-")}-${name}`;
  const label = schema.title || name;
  const help = [schema.description, rangeHint(schema)].filter(Boolean).join(" · ");
  const helpId = help ? `${id}-help` : undefined;
  const common = { id, name, "aria-describedby": helpId };
  let input;
  let read;
  let write;

  if (Array.isArray(schema.enum)) {
    input = el("select", common,
      schema.nullable || !required && schema.default === undefined
        ? el("option", { value: "" }, "(server default)") : null,
      schema.enum.map((v) => el("option", { value: JSON.stringify(v) }, String(v))));
    read = () => (input.value === "" ? undefined : JSON.parse(input.value));
    write = (v) => { input.value = v === null || v === undefined ? "" : JSON.stringify(v); };
  } else if (schema.type === "boolean") {
    input = el("input", { ...common, type: "checkbox" });
    read = () => input.checked;
    write = (v) => { input.checked = Boolean(v); };
  } else if (schema.type === "integer" || schema.type === "number") {
    input = el("input", {
      ...common, type: "number", inputmode: schema.type === "integer" ? "numeric" : "decimal",
      min: schema.minimum ?? schema.exclusiveMinimum, max: schema.maximum ?? schema.exclusiveMaximum,
      step: schema.type === "integer" ? "1" : "any", required: required || undefined,
    });
    read = () => (input.value === "" ? undefined : Number(input.value));
    write = (v) => { input.value = v === null || v === undefined ? "" : String(v); };
  } else if (schema.type === "string") {
    const long = LONG_TEXT.test(name) || (schema.maxLength ?? 0) > 1000;
    input = long
      ? el("textarea", { ...common, rows: name === "prompt" ? 3 : 2 })
      : el("input", { ...common, type: "text" });
    if (schema.maxLength) input.maxLength = Math.min(schema.maxLength, 1_000_000);
    if (schema.pattern) input.pattern = schema.pattern;
    if (required) input.required = true;
    read = () => (input.value === "" ? (required ? "" : undefined) : input.value);
    write = (v) => { input.value = v ?? ""; };
  } else if (schema.type === "array" && schema.items?.type === "string") {
    input = el("textarea", { ...common, rows: 2, placeholder: "one per line" });
    read = () => {
      const lines = input.value.split("\n").map((s) => s.trim()).filter(Boolean);
      return lines.length ? lines : undefined;
    };
    write = (v) => { input.value = Array.isArray(v) ? v.join("\n") : ""; };
  } else {
    // Anything else (objects, mixed unions) as JSON text.
    input = el("textarea", { ...common, rows: 2, placeholder: "JSON", spellcheck: "false" });
    read = () => {
      if (input.value.trim() === "") return undefined;
      try {
        return JSON.parse(input.value);
      } catch {
        throw new Error(`${label}: not valid JSON`);
      }
    };
    write = (v) => { input.value = v === undefined || v === null ? "" : JSON.stringify(v); };
  }

  const defaultValue = schema.default;
  write(defaultValue);
  const isCheck = schema.type === "boolean";
  const labelNode = el("label", { for: id }, label, required ? el("span", {
    class: "required", "aria-hidden": "true" }, " *") : null);
  const node = el("div", { class: isCheck ? "field check" : "field" },
    isCheck ? [input, labelNode] : [labelNode, input],
    help ? el("p", { class: "help", id: helpId }, help) : null);
  // Values equal to the default are left out, so the server's default applies.
  const value = () => {
    const v = read();
    return v !== undefined && JSON.stringify(v) === JSON.stringify(defaultValue) && !required
      ? undefined : v;
  };
  return { name, node, input, value, write, reset: () => write(defaultValue) };
}

export function buildFields(model) {
  const params = model.params || {};
  const required = new Set(params.required || []);
  return Object.entries(params.properties || {}).map(
    ([name, schema]) => field(name, schema, required.has(name), model.id));
}

// The params the fields hold, leaving out defaults and empty optional fields.
export function readFields(fields) {
  const body = {};
  for (const f of fields) {
    const value = f.value();
    if (value !== undefined) body[f.name] = value;
  }
  return body;
}

export function fillFields(fields, params) {
  for (const f of fields) {
    if (Object.hasOwn(params, f.name)) f.write(params[f.name]);
    else f.reset();
  }
}
