// Workers: one runtime's table (create, stop, delete where its capabilities
// allow) and the read-only overview across runtimes. Both are paged with the
// API's opaque cursors: a page is asked for only when it is shown.

import { ApiError, del, get, post, segment } from "./api.js";
import { failed } from "./app.js";
import { errorLine, h, replace, when } from "./dom.js";

const PAGE = 50;

function workerLink(worker) {
  return h("a", { href: `#/runtimes/${segment(worker.runtime_id)}/workers/${segment(worker.worker_id)}` }, worker.worker_id);
}

/**
 * A paged table. load(cursor) resolves to {items, next_cursor}; row(item)
 * returns a <tr>. Keeps the cursors of the pages before, so "Previous" works.
 */
function pagedTable(columns, load, row, signal) {
  const body = h("tbody");
  const status = h("p", { class: "pager-status", "aria-live": "polite" });
  const previous = h("button", { type: "button", class: "previous", disabled: true }, "← Previous");
  const next = h("button", { type: "button", class: "next", disabled: true }, "Next →");
  const behind = [];
  let current = null;
  let nextCursor = null;

  async function show(cursor) {
    status.textContent = "Loading…";
    try {
      const page = await load(cursor, signal);
      current = cursor;
      nextCursor = page.next_cursor;
      replace(body, page.items.length ? page.items.map(row) : h("tr", null, h("td", { colSpan: columns.length, class: "empty" }, "No workers.")));
      previous.disabled = behind.length === 0;
      next.disabled = nextCursor === null || nextCursor === undefined;
      status.textContent = `Page ${behind.length + 1}: ${page.items.length} worker${page.items.length === 1 ? "" : "s"}${next.disabled ? "" : "; more follow"}.`;
      return page;
    } catch (error) {
      if (error && error.name === "AbortError") return null;
      if (!failed(error, null)) replace(status, errorLine(error));
      return null;
    }
  }

  previous.addEventListener("click", () => show(behind.pop() ?? null));
  next.addEventListener("click", () => {
    behind.push(current);
    show(nextCursor);
  });

  const table = h("table", { class: "workers" }, h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col" }, c)))), body);
  return { element: h("div", { class: "paged" }, table, h("div", { class: "pager" }, previous, next, status)), show, reload: () => show(current) };
}

/** Inline confirmation: the button becomes "Really …? [Yes] [No]" in place; no dialog. */
function confirmButton(label, question, action) {
  const holder = h("span", { class: `confirm confirm-${label.toLowerCase()}` });
  const ask = () => {
    const yes = h("button", { type: "button", class: "danger confirm-yes", onclick: async () => { replace(holder, "…"); await action(holder); } }, `Yes, ${label.toLowerCase()}`);
    const no = h("button", { type: "button", class: "confirm-no", onclick: () => { replace(holder, button); button.focus(); } }, "No");
    replace(holder, h("span", null, question, " "), yes, " ", no);
    no.focus();
  };
  const button = h("button", { type: "button", class: `action-${label.toLowerCase()}`, onclick: ask }, label);
  holder.append(button);
  return holder;
}

async function loadProfiles(runtime, signal) {
  if (!runtime.capabilities.list_profiles) return null;
  try {
    return (await get(`/api/runtimes/${segment(runtime.runtime_id)}/profiles`, null, signal)).items;
  } catch (error) {
    if (error instanceof ApiError && error.status === 405) return null;
    throw error;
  }
}

function createForm(runtime, profiles, created) {
  const message = h("div", { class: "form-message", "aria-live": "polite" });
  let profileField;
  if (profiles) {
    profileField = h(
      "select",
      { id: "create-profile", name: "profile" },
      profiles.map((p) =>
        h("option", { value: p.name, selected: p.default }, p.name, p.default ? " (default)" : "", ` — ${p.engine}`, p.description ? `: ${p.description}` : ""),
      ),
    );
  } else {
    profileField = h("input", { id: "create-profile", name: "profile", placeholder: "default", autocomplete: "off" });
  }
  const label = h("input", { id: "create-label", name: "label", maxLength: 200, autocomplete: "off", placeholder: "optional" });
  const submit = h("button", { type: "submit", id: "create-submit" }, "Create worker");
  const form = h(
    "form",
    {
      id: "create-worker",
      class: "inline-form",
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        const body = {};
        if (profileField.value.trim()) body.profile = profileField.value.trim();
        if (label.value.trim()) body.label = label.value.trim();
        try {
          const worker = await post(`/api/runtimes/${segment(runtime.runtime_id)}/workers`, body);
          label.value = "";
          replace(message, h("p", { class: "ok" }, "Created ", workerLink(worker), "."), worker.diagnostics.map((d) => h("p", { class: "warning" }, `${d.code}: ${d.message}`)));
          created();
        } catch (error) {
          if (!failed(error, null)) replace(message, errorLine(error));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h2", null, "Create a worker"),
    h("label", { for: "create-profile" }, "Profile"),
    profileField,
    h("label", { for: "create-label" }, "Label"),
    label,
    submit,
  );
  return h("div", null, form, message);
}

// The cells every worker row shows (a runtime's list, and the overview after its runtime cell).
const workerCells = (worker) => [
  h("td", null, workerLink(worker)),
  h("td", { class: "label" }, worker.label || ""),
  h("td", null, h("span", { class: `status status-${worker.status}` }, worker.status)),
  h("td", null, worker.profile || ""),
  h("td", { class: "number" }, String(worker.transcript_length)),
  h("td", null, when(worker.created_at)),
];

export async function runtimeWorkersView(main, signal, runtimeId) {
  const runtime = await get(`/api/runtimes/${segment(runtimeId)}`, null, signal);
  const caps = runtime.capabilities;
  const actions = caps.stop_worker || caps.delete_worker;
  const message = h("div", { class: "row-message", "aria-live": "polite" });
  const columns = ["worker", "label", "status", "profile", "entries", "created", ...(actions ? ["actions"] : [])];

  let table;
  const row = (worker) =>
    h(
      "tr",
      { dataset: { worker: worker.worker_id } },
      ...workerCells(worker),
      actions
        ? h(
            "td",
            { class: "actions" },
            caps.stop_worker && worker.status !== "stopped"
              ? confirmButton("Stop", `Stop ${worker.worker_id} for good?`, async () => {
                  await act(() => post(`/api/runtimes/${segment(runtimeId)}/workers/${segment(worker.worker_id)}/stop`), `Stopped ${worker.worker_id}.`);
                })
              : null,
            " ",
            caps.delete_worker
              ? confirmButton("Delete", `Delete ${worker.worker_id} and its transcript?`, async () => {
                  await act(() => del(`/api/runtimes/${segment(runtimeId)}/workers/${segment(worker.worker_id)}`), `Deleted ${worker.worker_id}.`);
                })
              : null,
          )
        : null,
    );

  async function act(call, done) {
    try {
      await call();
      replace(message, h("p", { class: "ok" }, done));
    } catch (error) {
      if (!failed(error, null)) replace(message, errorLine(error));
    }
    await table.reload();
  }

  table = pagedTable(columns, (cursor, s) => get(`/api/runtimes/${segment(runtimeId)}/workers`, { limit: PAGE, cursor }, s), row, signal);
  const profiles = caps.create_worker ? await loadProfiles(runtime, signal) : null;
  replace(
    main,
    h("h1", null, "Workers of ", runtime.display_name),
    h("p", { class: "quiet" }, `${runtime.runtime_id} · ${runtime.kind} · ${runtime.status}`, caps.create_worker ? "" : " · read-only: workers cannot be created here"),
    caps.create_worker ? createForm(runtime, profiles, () => table.show(null)) : null,
    message,
    caps.list_workers ? table.element : h("p", null, "This runtime cannot list its workers."),
  );
  if (caps.list_workers) await table.show(null);
  return null;
}

export async function overviewView(main, signal) {
  const runtimes = await get("/api/runtimes", null, signal);
  const diagnostics = h("div", { class: "overview-diagnostics" });
  const row = (worker) =>
    h(
      "tr",
      { dataset: { worker: worker.worker_id } },
      h("td", null, h("a", { href: `#/runtimes/${segment(worker.runtime_id)}/workers` }, worker.runtime_id)),
      ...workerCells(worker),
    );
  const load = async (cursor, s) => {
    const page = await get("/api/workers", { limit: PAGE, cursor }, s);
    replace(diagnostics, (page.diagnostics || []).map((d) => h("p", { class: "warning" }, `${d.code}: ${d.message}`)));
    return page;
  };
  const table = pagedTable(["runtime", "worker", "label", "status", "profile", "entries", "created"], load, row, signal);
  replace(
    main,
    h("h1", null, "Workers"),
    h(
      "p",
      null,
      "Every runtime's workers, read-only. Manage a runtime's workers: ",
      runtimes.items.filter((r) => r.capabilities.list_workers).map((r, i) => [i ? ", " : "", h("a", { href: `#/runtimes/${segment(r.runtime_id)}/workers` }, r.display_name)]),
    ),
    diagnostics,
    table.element,
  );
  await table.show(null);
  return null;
}
