// One worker: its transcript (the last page first, earlier pages as you
// scroll up), the live turn (output deltas appended to one text node as they
// stream, tool calls collapsed, usage and stop reason, failures with code and
// message), the input box and cancel.

import { EventStream, get, post, segment } from "./api.js";
import { failed } from "./app.js";
import { errorLine, h, replace, when } from "./dom.js";
import { diagnosticList } from "./runtimes.js";

const PAGE = 50;
const POLL_MS = 2000;
const TOOL_ROLES = new Set(["tool_call", "tool_result"]);
const TURN_ENDS = new Set(["worker.turn_completed", "worker.turn_failed", "worker.turn_cancelled", "worker.turn_interrupted"]);

function entryElement(entry) {
  const head = h("span", { class: "entry-head" }, `#${entry.sequence} ${entry.role}`, entry.created_at ? ` · ${when(entry.created_at)}` : "");
  if (TOOL_ROLES.has(entry.role)) {
    return h(
      "details",
      { class: `entry role-${entry.role}`, dataset: { sequence: String(entry.sequence) } },
      h("summary", null, head, " ", h("span", { class: "tool-brief" }, entry.content.slice(0, 80))),
      h("pre", { class: "content" }, entry.content),
    );
  }
  return h("div", { class: `entry role-${entry.role}`, dataset: { sequence: String(entry.sequence) } }, head, h("div", { class: "content" }, entry.content));
}

function usageText(data) {
  const parts = [`turn ${data.turn} completed`];
  const usage = data.usage || {};
  if (usage.input_tokens !== undefined) parts.push(`${usage.input_tokens} input tokens`);
  if (usage.output_tokens !== undefined) parts.push(`${usage.output_tokens} output tokens`);
  if (data.stop_reason) parts.push(`stop reason: ${data.stop_reason}`);
  return parts.join(" · ");
}

export async function workerView(main, signal, runtimeId, workerId) {
  const base = `/api/runtimes/${segment(runtimeId)}/workers/${segment(workerId)}`;
  const [runtime, first] = await Promise.all([get(`/api/runtimes/${segment(runtimeId)}`, null, signal), get(base, null, signal)]);
  const caps = runtime.capabilities;
  const page = Math.max(1, Math.min(PAGE, runtime.limits.transcript_page_max || PAGE));
  let worker = first;

  const statusBadge = h("span", { id: "worker-status", class: `status status-${worker.status}` }, worker.status);
  const facts = h("p", { id: "worker-facts", class: "quiet" });
  const transcript = h("div", { id: "transcript", tabIndex: 0, "aria-label": "Transcript", role: "log" });
  const entries = h("div", { id: "entries" });
  const earlier = h("button", { type: "button", id: "load-earlier", class: "quiet", hidden: true }, "Load earlier entries");
  const live = h("div", { id: "live" });
  transcript.append(earlier, entries, live);
  const streamState = h("p", { id: "stream-state", class: "quiet", "aria-live": "polite" });
  const reason = h("p", { id: "busy-reason", "aria-live": "polite" });
  const input = h("textarea", { id: "input", name: "content", rows: 3, "aria-describedby": "busy-reason", placeholder: "Type input; Enter sends, Shift+Enter starts a new line" });
  const send = h("button", { type: "submit", id: "send" }, "Send");
  const cancel = h("button", { type: "button", id: "cancel", class: "danger" }, "Cancel turn");

  let firstSeq = null; // lowest sequence shown
  let lastSeq = 0; // highest sequence shown
  let loadingEarlier = false;
  let catchingUp = null;
  let liveTurn = null; // {turn, element, text: Text, tools}
  let sending = false;
  let turnsEnded = 0;
  let refocus = false;
  const handled = new Set();

  function renderFacts() {
    statusBadge.textContent = worker.status;
    statusBadge.className = `status status-${worker.status}`;
    // Totals are null for kinds that do not count them (decision 0201).
    const totals = worker.totals ? ` · ${worker.totals.turns} turns · ${worker.totals.input_tokens} in / ${worker.totals.output_tokens} out tokens` : "";
    replace(facts, `${worker.worker_id} · profile ${worker.profile || "none"} · ${worker.transcript_length} entries${totals} · created ${when(worker.created_at)}`);
  }

  function atBottom() {
    return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
  }

  function keepBottom(wasAtBottom) {
    if (wasAtBottom) transcript.scrollTop = transcript.scrollHeight;
  }

  function setInputState() {
    const busy = worker.status === "busy";
    const stopped = worker.status === "stopped";
    input.disabled = busy || stopped || sending;
    send.disabled = input.disabled;
    cancel.disabled = !busy;
    // A keyboard user who sent from the box gets it back once it takes input again.
    if (!input.disabled && refocus && (document.activeElement === document.body || document.activeElement === null)) {
      refocus = false;
      input.focus();
    }
    if (stopped) reason.textContent = "The worker is stopped: it takes no more input.";
    else if (busy) reason.textContent = "The worker is busy with a turn: input is accepted again when it ends (or cancel it).";
    else reason.textContent = "";
  }

  function appendEntries(items) {
    const wasAtBottom = atBottom();
    for (const entry of items) {
      if (entry.sequence <= lastSeq) continue;
      entries.append(entryElement(entry));
      lastSeq = entry.sequence;
      if (firstSeq === null) firstSeq = entry.sequence;
    }
    keepBottom(wasAtBottom);
  }

  // Reads forward from lastSeq + 1 to the end (after a gap, a reconnect, or a poll).
  function catchUp() {
    if (!caps.read_transcript) return Promise.resolve();
    if (catchingUp) return catchingUp;
    catchingUp = (async () => {
      try {
        for (;;) {
          const answer = await get(`${base}/transcript`, { start: lastSeq + 1, limit: page }, signal);
          appendEntries(answer.items);
          if (answer.next_start === null || answer.items.length === 0) break;
        }
      } finally {
        catchingUp = null;
      }
    })();
    return catchingUp;
  }

  async function loadEarlier() {
    if (loadingEarlier || firstSeq === null || firstSeq <= 1) return;
    loadingEarlier = true;
    try {
      const start = Math.max(1, firstSeq - page);
      const answer = await get(`${base}/transcript`, { start, limit: firstSeq - start }, signal);
      const before = transcript.scrollHeight;
      const fragment = document.createDocumentFragment();
      for (const entry of answer.items) if (entry.sequence < firstSeq) fragment.append(entryElement(entry));
      entries.prepend(fragment);
      firstSeq = start;
      transcript.scrollTop += transcript.scrollHeight - before; // the entries in view stay in view
      earlier.hidden = firstSeq <= 1;
    } catch (error) {
      if (error && error.name !== "AbortError" && !failed(error, null)) replace(streamState, errorLine(error));
    } finally {
      loadingEarlier = false;
    }
  }

  function liveBlock(turn) {
    if (liveTurn && liveTurn.turn === turn) return liveTurn;
    if (liveTurn) liveTurn.element.remove();
    const text = document.createTextNode("");
    const tools = h("div", { class: "live-tools" });
    const element = h("div", { class: "entry role-assistant live-turn", dataset: { turn: String(turn) } }, h("span", { class: "entry-head" }, `turn ${turn} · streaming…`), tools, h("div", { class: "content streaming" }, text));
    live.append(element);
    liveTurn = { turn, element, text, tools, calls: new Map() };
    return liveTurn;
  }

  function endLive() {
    if (liveTurn) liveTurn.element.remove();
    liveTurn = null;
  }

  function note(kind, ...content) {
    const wasAtBottom = atBottom();
    entries.append(h("p", { class: `turn-note ${kind}` }, ...content));
    keepBottom(wasAtBottom);
  }

  function onEvent(event) {
    if (event.worker_id !== workerId) return;
    // A resume from an older point (after cursor_expired) repeats events: each is reflected once.
    // (Live deltas are not stored: they carry the id of the stored event they follow, and are never repeated.)
    if (event.type !== "worker.output_delta" && event.id !== undefined && event.id !== null) {
      if (handled.has(event.id)) return;
      handled.add(event.id);
    }
    const data = event.data || {};
    const wasAtBottom = atBottom();
    switch (event.type) {
      case "worker.input_accepted":
      case "worker.output":
        if (data.transcript_sequence > lastSeq + 1) {
          catchUp().catch(() => {});
        } else {
          appendEntries([{ sequence: data.transcript_sequence, role: data.role, content: data.content, created_at: event.created_at }]);
        }
        if (event.type === "worker.output" && !TOOL_ROLES.has(data.role) && liveTurn) liveTurn.text.data = "";
        break;
      case "worker.turn_started":
        worker = { ...worker, status: "busy" };
        liveBlock(data.turn);
        break;
      case "worker.output_delta":
        // One text node grows: no entry is rebuilt, however fast deltas come.
        liveBlock(data.turn).text.appendData(data.text);
        break;
      case "worker.tool_call_started": {
        const block = liveBlock(data.turn);
        const line = h("details", { class: "tool-call" }, h("summary", null, `tool ${data.tool} running…`), h("pre", null, JSON.stringify(data, null, 2)));
        block.calls.set(data.call_id, line);
        block.tools.append(line);
        break;
      }
      case "worker.tool_call_finished": {
        const line = liveTurn && liveTurn.calls.get(data.call_id);
        if (line) line.querySelector("summary").textContent = `tool ${data.tool} finished`;
        break;
      }
      case "worker.turn_completed":
        endLive();
        note("usage", usageText(data));
        break;
      case "worker.turn_failed":
        endLive();
        // engine_code (0.4): the engine's own reason beside the closed code, e.g. "engine_error (acme-calc.bad_input)".
        note(
          "failure",
          h("strong", null, `turn ${data.turn} failed: ${data.code || "error"}${data.engine_code ? ` (${data.engine_code})` : ""}`),
          data.message ? `: ${data.message}` : "",
        );
        break;
      case "worker.turn_cancelled":
        endLive();
        note("cancelled", `turn ${data.turn} cancelled (${data.reason || "cancel"})`);
        break;
      case "worker.turn_interrupted":
        endLive();
        note("failure", `turn ${data.turn} interrupted (${data.reason || "restart"})`);
        break;
      case "worker.stopped":
        endLive();
        worker = { ...worker, status: "stopped" };
        break;
      case "worker.deleted":
        endLive();
        worker = { ...worker, status: "deleted" };
        note("failure", "This worker was deleted.");
        input.disabled = send.disabled = cancel.disabled = true;
        break;
      default:
        break;
    }
    if (TURN_ENDS.has(event.type)) {
      turnsEnded += 1;
      worker = { ...worker, status: "idle" };
      // The totals changed with the turn's end: read them from the server, which counted it (decision 0201).
      if (worker.totals) refreshWorker().catch(() => {});
    }
    if (event.type !== "worker.output_delta") {
      worker = { ...worker, transcript_length: Math.max(worker.transcript_length, lastSeq) };
      renderFacts();
      if (worker.status !== "deleted") setInputState();
    }
    keepBottom(wasAtBottom);
  }

  async function refreshWorker() {
    worker = await get(base, null, signal);
    renderFacts();
    setInputState();
  }

  async function submit(event) {
    event.preventDefault();
    const content = input.value;
    if (!content.trim() || input.disabled) return;
    refocus = document.activeElement === input;
    sending = true;
    setInputState();
    const endsBefore = turnsEnded;
    try {
      const accepted = await post(`${base}/input`, { content });
      input.value = "";
      // The stream may already have told of this turn's end (a quick turn): then the answer's "busy" is old news.
      if (turnsEnded === endsBefore) worker = { ...worker, status: accepted.status };
      if (!caps.stream_events) await catchUp();
    } catch (error) {
      if (failed(error, null)) return;
      sending = false;
      if (error.status === 409) {
        // Busy (or stopped): say why, in the server's words, and read the status again.
        await refreshWorker().catch(() => {});
        replace(reason, errorLine(error));
        return;
      }
      replace(reason, errorLine(error));
      return;
    }
    sending = false;
    setInputState();
  }

  cancel.addEventListener("click", async () => {
    try {
      await post(`${base}/cancel`);
      await refreshWorker();
    } catch (error) {
      if (!failed(error, null)) replace(reason, errorLine(error));
    }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  earlier.addEventListener("click", loadEarlier);
  transcript.addEventListener("scroll", () => {
    if (transcript.scrollTop < 60) loadEarlier();
  });

  const form = h("form", { id: "input-form", onsubmit: submit }, h("label", { for: "input" }, "Input"), input, h("div", { class: "buttons" }, send, caps.cancel_worker ? cancel : null), reason);

  replace(
    main,
    h("p", { class: "crumbs" }, h("a", { href: `#/runtimes/${segment(runtimeId)}/workers` }, `Workers of ${runtime.display_name}`)),
    h("h1", null, worker.label || worker.worker_id, " ", statusBadge),
    facts,
    diagnosticList(worker.diagnostics),
    caps.read_transcript ? transcript : h("p", { id: "no-transcript", class: "quiet" }, "This runtime does not keep transcripts: only the worker's state is shown."),
    caps.stream_events ? streamState : null,
    caps.send_input ? form : h("p", { class: "quiet" }, "This runtime is read-only: it takes no input."),
  );
  renderFacts();
  setInputState();

  // The last page first.
  let answer = { items: [], next_start: null };
  if (caps.read_transcript) {
    const start = Math.max(1, worker.transcript_length - page + 1);
    answer = await get(`${base}/transcript`, { start, limit: page }, signal);
    firstSeq = start;
    appendEntries(answer.items);
    if (answer.next_start !== null) await catchUp();
    earlier.hidden = firstSeq <= 1;
    transcript.scrollTop = transcript.scrollHeight;
  }

  if (!caps.stream_events) {
    // Without a stream the view polls: the worker, and the transcript where there is one.
    const timer = window.setInterval(() => {
      refreshWorker().then(() => (caps.read_transcript ? catchUp() : null)).catch((error) => {
        if (error && error.name !== "AbortError") failed(error, null);
      });
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }

  // Live: the runtime's stream from the newest event this view already reflects.
  const seen = answer.items.map((e) => e.event_id).filter((id) => id !== null && id !== undefined);
  let cursor = seen.length ? String(seen[seen.length - 1]) : null;
  if (cursor === null) {
    const events = await get(`${base}/events`, { limit: 1 }, signal).catch(() => null);
    if (events && events.events.length) cursor = String(events.events[0].id);
  }
  const stream = new EventStream(
    runtimeId,
    {
      event: onEvent,
      state: (state, error) => {
        if (state === "live") {
          replace(streamState, "Live.");
          catchUp().catch(() => {});
        } else if (state === "expired") {
          replace(streamState, errorLine(error), "Following the runtime's newest events instead.");
          stream.resume();
          catchUp().catch(() => {});
        } else if (state === "failed") {
          if (!failed(error, null)) replace(streamState, errorLine(error));
        } else {
          replace(streamState, state === "connecting" ? "Connecting…" : "Reconnecting…", error ? [" ", errorLine(error)] : null);
        }
      },
    },
    { cursor },
  ).start();
  return () => stream.stop();
}
