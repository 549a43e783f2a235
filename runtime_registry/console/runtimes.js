// The runtimes view: each runtime's status, kind, plugin, capabilities,
// limits and diagnostics, read again every few seconds; and the plugins.

import { get, segment } from "./api.js";
import { failed } from "./app.js";
import { definitions, errorLine, h, replace } from "./dom.js";

const REFRESH_MS = 3000;

function capabilityList(capabilities) {
  return h(
    "ul",
    { class: "capabilities" },
    Object.entries(capabilities).map(([name, on]) =>
      // busy_policies is a list (the if_busy values input takes), not a flag.
      Array.isArray(on)
        ? h("li", { class: "yes", title: "if_busy policies input takes" }, `${name}: ${on.join(", ")}`)
        : h("li", { class: on ? "yes" : "no", title: on ? "supported" : "not supported" }, on ? "✓ " : "✗ ", name),
    ),
  );
}

function limitPairs(limits) {
  const pairs = [];
  for (const [name, value] of Object.entries(limits)) {
    if (name === "kind_specific") continue;
    pairs.push([name, value === null ? "none" : String(value)]);
  }
  for (const [name, value] of Object.entries(limits.kind_specific || {})) pairs.push([name, String(value)]);
  return pairs;
}

export function diagnosticList(diagnostics) {
  if (!diagnostics || diagnostics.length === 0) return null;
  return h(
    "ul",
    { class: "diagnostics" },
    diagnostics.map((d) => h("li", { class: `severity-${d.severity}` }, h("strong", null, `${d.severity} ${d.code}`), ": ", d.message)),
  );
}

function runtimeCard(runtime) {
  const id = segment(runtime.runtime_id);
  const caps = runtime.capabilities;
  return h(
    "section",
    { class: "card runtime", dataset: { runtime: runtime.runtime_id } },
    h("h2", null, runtime.display_name, " ", h("span", { class: `status status-${runtime.status}` }, runtime.status)),
    definitions([
      ["id", runtime.runtime_id],
      ["kind", runtime.kind],
      ["plugin", `${runtime.plugin.name} ${runtime.plugin.version}`],
    ]),
    h(
      "p",
      { class: "links" },
      caps.list_workers ? h("a", { href: `#/runtimes/${id}/workers` }, "Workers") : null,
      caps.stream_events ? h("a", { href: `#/runtimes/${id}/events` }, "Events") : null,
    ),
    diagnosticList(runtime.diagnostics),
    h("details", null, h("summary", null, "Capabilities"), capabilityList(caps)),
    h("details", null, h("summary", null, "Limits"), definitions(limitPairs(runtime.limits))),
  );
}

function settingsTable(settings) {
  const rows = [];
  for (const [kind, keys] of Object.entries(settings || {})) {
    for (const key of keys) {
      rows.push(
        h(
          "tr",
          null,
          h("td", null, kind),
          h("td", null, key.name),
          h("td", null, key.type),
          h("td", null, key.required ? "required" : JSON.stringify(key.default)),
          h("td", null, key.doc || ""),
        ),
      );
    }
  }
  if (rows.length === 0) return null;
  return h(
    "details",
    null,
    h("summary", null, "Settings"),
    h("table", null, h("thead", null, h("tr", null, ["kind", "key", "type", "default", "about"].map((t) => h("th", null, t)))), h("tbody", null, rows)),
  );
}

function pluginsSection(plugins) {
  return h(
    "section",
    { id: "plugins" },
    h("h2", null, "Plugins"),
    plugins.map((plugin) =>
      h(
        "div",
        { class: "card plugin", dataset: { plugin: plugin.name } },
        h("h3", null, `${plugin.name} ${plugin.version} `, h("span", { class: `status status-${plugin.state}` }, plugin.state)),
        plugin.reason ? h("p", { class: "error" }, plugin.reason) : null,
        definitions([
          ["kinds", plugin.kinds.join(", ") || "none"],
          ["engines", (plugin.engines || []).join(", ") || "none"],
          ["tools", (plugin.tools || []).join(", ") || "none"],
        ]),
        settingsTable(plugin.settings),
      ),
    ),
  );
}

export async function runtimesView(main, signal) {
  const list = h("div", { id: "runtimes" });
  const plugins = h("div");
  const stamp = h("p", { class: "quiet", id: "runtimes-updated" });
  replace(main, h("h1", null, "Runtimes"), stamp, list, plugins);

  // Open <details> stay open across refreshes.
  const openSections = () =>
    new Set([...list.querySelectorAll("details[open]")].map((d) => `${d.closest("[data-runtime]").dataset.runtime}/${d.querySelector("summary").textContent}`));

  async function refresh(first) {
    try {
      const answer = await get("/api/runtimes", null, signal);
      const open = openSections();
      replace(list, answer.items.length ? answer.items.map(runtimeCard) : h("p", null, "No runtimes are configured."));
      for (const details of list.querySelectorAll("details")) {
        const key = `${details.closest("[data-runtime]").dataset.runtime}/${details.querySelector("summary").textContent}`;
        if (open.has(key)) details.open = true;
      }
      stamp.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshed every ${REFRESH_MS / 1000} s.`;
      if (first) {
        const answerPlugins = await get("/api/plugins", null, signal);
        replace(plugins, pluginsSection(answerPlugins.items));
      }
    } catch (error) {
      if (error && error.name === "AbortError") return;
      if (failed(error, null)) return;
      replace(stamp, errorLine(error));
    }
  }

  await refresh(true);
  const timer = window.setInterval(() => refresh(false), REFRESH_MS);
  return () => window.clearInterval(timer);
}
