// A runtime's event feed, live: the stream resumes after a dropped connection
// (or a server restart) with Last-Event-ID, and a resume point the runtime no
// longer has (cursor_expired) is said plainly, with a way to go on.

import { EventStream, get, segment } from "./api.js";
import { failed } from "./app.js";
import { errorLine, h, replace, when } from "./dom.js";

//: Rows kept on the page; older ones are dropped as new ones come (the feed is endless).
const KEEP = 500;

function summary(event) {
  const data = event.data || {};
  if (typeof data.text === "string") return data.text;
  if (typeof data.content === "string") return data.content;
  return JSON.stringify(data);
}

export async function eventsView(main, signal, runtimeId) {
  const runtimes = (await get("/api/runtimes", null, signal)).items.filter((r) => r.capabilities.stream_events);
  if (runtimeId === null) {
    if (runtimes.length === 0) {
      replace(main, h("h1", null, "Events"), h("p", null, "No runtime here can stream its events."));
      return null;
    }
    runtimeId = runtimes[0].runtime_id;
  }
  const picker = h(
    "nav",
    { class: "runtime-picker", "aria-label": "Runtime" },
    runtimes.map((r) => h("a", { href: `#/runtimes/${segment(r.runtime_id)}/events`, "aria-current": r.runtime_id === runtimeId ? "page" : null }, r.display_name)),
  );
  const state = h("div", { id: "events-state", "aria-live": "polite" });
  const rows = h("tbody", { id: "event-rows" });
  const showDeltas = h("input", { type: "checkbox", id: "show-deltas" });
  replace(
    main,
    h("h1", null, "Events of ", runtimeId),
    picker,
    state,
    h("p", null, showDeltas, " ", h("label", { for: "show-deltas" }, "Show output deltas (live only, not stored)")),
    h(
      "table",
      { class: "events" },
      h("thead", null, h("tr", null, ["id", "time", "type", "worker", "data"].map((t) => h("th", { scope: "col" }, t)))),
      rows,
    ),
  );

  let stream = null;
  const onEvent = (event) => {
    const live = event.type === "worker.output_delta"; // not stored: it has no id of its own
    if (live && !showDeltas.checked) return;
    rows.append(
      h(
        "tr",
        { class: `event type-${event.type.replace(/[^a-z_.]/g, "")}`, dataset: { id: live ? "" : String(event.id) } },
        h("td", { class: "number" }, live ? "live" : String(event.id)),
        h("td", null, when(event.created_at)),
        h("td", null, event.type),
        h("td", null, event.worker_id ? h("a", { href: `#/runtimes/${segment(runtimeId)}/workers/${segment(event.worker_id)}` }, event.worker_id) : ""),
        h("td", { class: "data" }, summary(event)),
      ),
    );
    while (rows.childElementCount > KEEP) rows.firstElementChild.remove();
  };
  const onState = (name, error) => {
    if (name === "live") replace(state, h("p", { class: "live" }, "● Live", stream.lastEventId ? ` — resumed after event ${stream.lastEventId}` : ""));
    else if (name === "connecting") replace(state, h("p", null, "Connecting…"));
    else if (name === "reconnecting") {
      replace(state, h("p", { class: "warning" }, "Connection lost; reconnecting", stream.lastEventId ? ` to resume after event ${stream.lastEventId}` : "", "…"), error ? errorLine(error) : null);
    } else if (name === "expired") {
      const button = h("button", { type: "button", id: "resume-oldest", onclick: () => stream.resume() }, "Continue from the oldest retained event");
      replace(
        state,
        h("div", { class: "expired", role: "alert" }, h("p", null, h("strong", null, "cursor_expired"), ": ", error.message), h("p", null, "Events after the last one shown are no longer retained by the runtime: some were missed."), button),
      );
      button.focus();
    } else if (name === "failed") {
      if (!failed(error, null)) replace(state, errorLine(error));
    }
  };
  stream = new EventStream(runtimeId, { event: onEvent, state: onState }).start();
  return () => stream.stop();
}
