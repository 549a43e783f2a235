// The console: a header, the token form when the server asks for one, and
// one view at a time chosen by the URL's hash (#/runtimes, #/workers,
// #/runtimes/ID/workers, #/runtimes/ID/workers/ID, #/runtimes/ID/events).

import { ApiError, forgetToken, get, setToken, token } from "./api.js";
import { errorLine, h, replace } from "./dom.js";
import { eventsView } from "./events.js";
import { runtimesView } from "./runtimes.js";
import { workerView } from "./worker.js";
import { overviewView, runtimeWorkersView } from "./workers.js";

const main = document.getElementById("view");
const nav = document.getElementById("nav");
let cleanup = null;

function routeOf(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0 || (parts.length === 1 && parts[0] === "runtimes")) return { view: runtimesView, name: "runtimes" };
  if (parts.length === 1 && parts[0] === "workers") return { view: overviewView, name: "workers" };
  if (parts.length === 1 && parts[0] === "events") return { view: eventsView, name: "events", args: [null] };
  if (parts[0] === "runtimes" && parts.length === 3 && parts[2] === "workers") {
    return { view: runtimeWorkersView, name: "workers", args: [parts[1]] };
  }
  if (parts[0] === "runtimes" && parts.length === 4 && parts[2] === "workers") {
    return { view: workerView, name: "workers", args: [parts[1], parts[3]] };
  }
  if (parts[0] === "runtimes" && parts.length === 3 && parts[2] === "events") {
    return { view: eventsView, name: "events", args: [parts[1]] };
  }
  return null;
}

function renderNav(active) {
  const link = (name, href, text) =>
    h("a", { href, "aria-current": active === name ? "page" : null, id: `nav-${name}` }, text);
  const items = [link("runtimes", "#/runtimes", "Runtimes"), link("workers", "#/workers", "Workers"), link("events", "#/events", "Events")];
  if (token()) {
    items.push(
      h("button", { type: "button", id: "forget-token", class: "quiet", onclick: () => { forgetToken(); route(); } }, "Forget token"),
    );
  }
  replace(nav, items);
}

/** Ask for the token, saying plainly why (no token yet, or the one given was refused). */
export function showLogin(error) {
  if (cleanup) cleanup();
  cleanup = null;
  renderNav(null);
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "off", required: true });
  const form = h(
    "form",
    {
      id: "login",
      onsubmit: (event) => {
        event.preventDefault();
        setToken(input.value.trim());
        route();
      },
    },
    h("h1", null, "Sign in"),
    h("p", null, "This server needs a bearer token. It is kept in this tab only and sent with every API request."),
    error ? errorLine(error) : null,
    h("label", { for: "token" }, "Token"),
    input,
    h("button", { type: "submit", id: "sign-in" }, "Sign in"),
  );
  replace(main, form);
  input.focus();
}

/** What a view calls when a request failed: 401 asks for the token, anything else is shown where the view says. */
export function failed(error, where) {
  if (error instanceof ApiError && error.status === 401) {
    showLogin(token() ? error : null);
    return true;
  }
  if (where) replace(where, errorLine(error));
  return false;
}

async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const chosen = routeOf(window.location.hash);
  if (chosen === null) {
    renderNav(null);
    replace(main, h("h1", null, "Not found"), h("p", null, "No view has this address. ", h("a", { href: "#/runtimes" }, "Runtimes")));
    return;
  }
  renderNav(chosen.name);
  replace(main, h("p", { class: "loading" }, "Loading…"));
  const controller = new AbortController();
  cleanup = () => controller.abort();
  try {
    const stop = await chosen.view(main, controller.signal, ...(chosen.args || []));
    if (controller.signal.aborted) {
      if (typeof stop === "function") stop();
      return;
    }
    cleanup = () => {
      controller.abort();
      if (typeof stop === "function") stop();
    };
  } catch (error) {
    if (error && error.name === "AbortError") return;
    failed(error, main);
  }
}

// Every view starts by asking the API something; a 401 then shows the form.
async function start() {
  window.addEventListener("hashchange", route);
  // Leaving the page closes its streams and timers (a page kept in the back/forward cache would hold its
  // event stream open); coming back to it renders the view afresh.
  window.addEventListener("pagehide", () => {
    if (cleanup) cleanup();
    cleanup = null;
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) route();
  });
  try {
    await get("/api/runtimes");
  } catch (error) {
    if (failed(error, null)) return;
  }
  route();
}

start();
