// Live task changes: `GET /v1/events` (Server-Sent Events) read with fetch(), because
// EventSource cannot send the Authorization header. Where the server has no such route
// (a 404), the page polls instead; the caller decides what to poll.

import { authHeaders } from "./api.js";

// Parses an SSE byte stream (the WHATWG rules: fields, comments, blank-line dispatch).
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.reset();
    this.lastEventId = "";
    this.retry = null;
  }

  reset() {
    this.type = "";
    this.data = [];
    this.id = null;
  }

  push(text) {
    this.buffer += text;
    // One scan of the chunk (a global regex moves lastIndex), not a copy of the rest of
    // the buffer per line: a chunk of a busy stream holds hundreds of lines.
    const breaks = /\r\n|\r|\n/g;
    let start = 0;
    for (;;) {
      const match = breaks.exec(this.buffer);
      if (!match) break;
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (match[0] === "\r" && match.index === this.buffer.length - 1) break;
      this.line(this.buffer.slice(start, match.index));
      start = match.index + match[0].length;
    }
    this.buffer = this.buffer.slice(start);
  }

  line(line) {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return; // a comment: keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && !value.includes("\0")) this.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }

  dispatch() {
    if (this.id !== null) this.lastEventId = this.id;
    if (this.data.length) {
      this.onEvent({ type: this.type || "message", data: this.data.join("\n"),
        id: this.lastEventId });
    }
    this.reset();
  }
}

// Follows the events of all of the key's tasks. Callbacks: onTask(data) per status event,
// onMode("events" | "polling" | "reconnecting"), onUnauthorized(). Returns stop().
export function follow({ onTask, onMode, onUnauthorized }) {
  const controller = new AbortController();
  let lastEventId = "";
  let delay = 1000;

  async function connect() {
    while (!controller.signal.aborted) {
      const headers = { ...authHeaders(), Accept: "text/event-stream" };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      let response;
      try {
        response = await fetch("/v1/events", { headers, signal: controller.signal,
          cache: "no-store" });
      } catch {
        if (controller.signal.aborted) return;
        onMode("reconnecting");
        await sleep(delay, controller.signal);
        delay = Math.min(delay * 2, 15000);
        continue;
      }
      if (response.status === 404 || response.status === 405) return onMode("polling");
      if (response.status === 401) return onUnauthorized();
      if (!response.ok || !response.body) {
        onMode("reconnecting");
        await sleep(delay, controller.signal);
        delay = Math.min(delay * 2, 15000);
        continue;
      }
      onMode("events");
      delay = 1000;
      const parser = new SseParser((event) => {
        lastEventId = event.id || lastEventId;
        if (event.type !== "status" && event.type !== "message") return;
        try {
          onTask(JSON.parse(event.data));
        } catch {
          // Not JSON: nothing the page can show.
        }
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(value);
        }
      } catch {
        // The connection dropped: reconnect below with Last-Event-ID.
      }
      if (controller.signal.aborted) return;
      if (parser.retry !== null) delay = parser.retry;
      onMode("reconnecting");
      await sleep(delay, controller.signal);
    }
  }

  connect();
  return () => controller.abort();
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}
