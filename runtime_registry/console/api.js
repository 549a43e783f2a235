// The public HTTP API, as the console uses it: fetch with the tab's token,
// answers as JSON, errors as ApiError (status, code, message from the
// envelope), and the event stream read with fetch streaming (EventSource
// cannot send the Authorization header).

const TOKEN_KEY = "runtime-registry-console-token";

/** The API root: the console is served at <root>/console/, the API at <root>/api. */
export const apiRoot = new URL("../", window.location.href);

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

// The token lives in this tab's sessionStorage only: never a cookie, never the URL.
export function token() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(value) {
  window.sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  window.sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra) {
  const result = { Accept: "application/json", ...extra };
  const current = token();
  if (current) result.Authorization = `Bearer ${current}`;
  return result;
}

/** A path segment (a runtime or worker id), escaped. */
export const segment = encodeURIComponent;

function url(path, query) {
  const target = new URL(path.replace(/^\//, ""), apiRoot);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") target.searchParams.set(name, String(value));
  }
  return target;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = (body && body.error) || {};
  return new ApiError(
    response.status,
    error.code || `http_${response.status}`,
    error.message || response.statusText || "the request failed",
    error.details,
  );
}

/** One request; resolves to the JSON answer, rejects with ApiError. */
export async function request(method, path, { query, body, signal } = {}) {
  const init = {
    method,
    headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }),
    cache: "no-store",
    credentials: "omit",
    signal,
  };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(url(path, query), init);
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(0, "connection_failed", "the server could not be reached");
  }
  if (!response.ok) throw await errorOf(response);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, query, signal) => request("GET", path, { query, signal });
export const post = (path, body) => request("POST", path, { body: body === undefined ? {} : body });
export const del = (path) => request("DELETE", path);

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = window.setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { window.clearTimeout(timer); resolve(); }, { once: true });
  });

/**
 * Follow a runtime's event stream until stop(): reconnects after a dropped
 * connection (or a server restart) with Last-Event-ID, so nothing stored is
 * missed or repeated.
 *
 * handlers.event(event, type): a runtime event (stored ones carry an id; live
 *   output deltas do not)
 * handlers.state(state, detail): "connecting" | "live" | "reconnecting" |
 *   "expired" (the resume point is gone: detail is the ApiError; the stream
 *   stops until resume() is called) | "failed" (a refusal that retrying
 *   cannot mend: 401, 404, 405; detail is the ApiError)
 */
export class EventStream {
  constructor(runtimeId, handlers, { cursor = null } = {}) {
    this.runtimeId = runtimeId;
    this.handlers = handlers;
    this.lastEventId = null;
    this.cursor = cursor;
    this.controller = null;
    this.stopped = false;
    this.expired = false;
    this.connections = 0;
  }

  start() {
    this.stopped = false;
    this.expired = false;
    this.run();
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
  }

  /** After cursor_expired: continue from the oldest event the runtime still has. */
  resume() {
    this.lastEventId = null;
    this.cursor = null;
    this.start();
  }

  async run() {
    let delay = 500;
    while (!this.stopped && !this.expired) {
      this.controller = new AbortController();
      const signal = this.controller.signal;
      this.handlers.state(this.connections === 0 ? "connecting" : "reconnecting");
      try {
        const extra = { Accept: "text/event-stream" };
        if (this.lastEventId !== null) extra["Last-Event-ID"] = String(this.lastEventId);
        const query = this.lastEventId === null && this.cursor !== null ? { cursor: this.cursor } : {};
        const response = await fetch(url(`/api/runtimes/${segment(this.runtimeId)}/events/stream`, query), {
          headers: headers(extra),
          cache: "no-store",
          credentials: "omit",
          signal,
        });
        if (!response.ok) {
          const error = await errorOf(response);
          if (error.status === 410) {
            this.expire(error);
            return;
          }
          if ([400, 401, 403, 404, 405].includes(error.status)) {
            this.stopped = true;
            this.handlers.state("failed", error);
            return;
          }
          throw error;
        }
        this.connections += 1;
        delay = 500;
        this.handlers.state("live");
        await this.read(response.body, signal);
      } catch (error) {
        if (this.stopped) return;
        if (error && error.name !== "AbortError" && error.status) this.handlers.state("reconnecting", error);
      }
      if (this.stopped || this.expired) return;
      this.handlers.state("reconnecting");
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 4000);
    }
  }

  expire(error) {
    this.expired = true;
    this.handlers.state("expired", error);
  }

  // Server-Sent Events framing (the WHATWG rules the server's framing needs):
  // fields per line, an event per blank line, comments (heartbeats) ignored.
  async read(body, signal) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let fields = { data: [], event: "message", id: null };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || signal.aborted) return;
        buffer += value;
        const lines = buffer.split(/\r\n|\r|\n/);
        buffer = lines.pop();
        for (const line of lines) {
          if (line === "") {
            if (fields.data.length) this.dispatch(fields);
            fields = { data: [], event: "message", id: null };
            if (this.stopped || this.expired) return;
            continue;
          }
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const name = colon === -1 ? line : line.slice(0, colon);
          let text = colon === -1 ? "" : line.slice(colon + 1);
          if (text.startsWith(" ")) text = text.slice(1);
          if (name === "data") fields.data.push(text);
          else if (name === "event") fields.event = text;
          else if (name === "id") fields.id = text;
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  dispatch(fields) {
    let data;
    try {
      data = JSON.parse(fields.data.join("\n"));
    } catch {
      return;
    }
    if (fields.event === "cursor_expired") {
      const error = data.error || {};
      this.expire(new ApiError(410, error.code || "cursor_expired", error.message || "the resume point is gone"));
      return;
    }
    if (fields.event === "error") {
      const error = data.error || {};
      this.handlers.state("reconnecting", new ApiError(503, error.code || "error", error.message || "the stream ended"));
      return;
    }
    if (fields.id !== null && /^[0-9]+$/.test(fields.id)) this.lastEventId = fields.id;
    this.handlers.event(data, fields.event);
  }
}
