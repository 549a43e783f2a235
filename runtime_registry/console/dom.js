// Building elements. Every child that is not a Node becomes a text node and
// every property is set as an attribute value or a DOM property: nothing a
// server, a client or a model wrote is ever parsed as HTML (markup is never assigned from a string).

/** Only in-page links: anything else (a javascript: URL from data) becomes "#". */
function safeHref(value) {
  const text = String(value);
  return text.startsWith("#") ? text : "#";
}

/** Append children: nodes as they are, strings and numbers as text; null, undefined and false skipped. */
export function append(parent, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/**
 * h("button", {class: "danger", onclick: f, disabled: true}, "Delete")
 * Keys starting with "on" add listeners; "class" sets className; "href" only
 * takes in-page links; "dataset" fills data-*; boolean and non-string values
 * are set as properties (disabled, checked, value); other strings as attributes.
 */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      element.className = value;
    } else if (key === "href") {
      element.setAttribute("href", safeHref(value));
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else if (typeof value !== "string" || key === "value") {
      element[key] = value;
    } else {
      element.setAttribute(key, value);
    }
  }
  return append(element, children);
}

/** Replace every child of `parent`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** "2026-12-07 02:05:09" from an ISO timestamp (UTC), or "" for none. */
export function when(timestamp) {
  if (!timestamp) return "";
  return String(timestamp).replace("T", " ").replace(/\.\d+/, "").replace(/Z$|\+00:00$/, " UTC");
}

/** A line saying what went wrong: status and code first, then the server's own message. */
export function errorLine(error) {
  const status = error && error.status ? `${error.status} ` : "";
  const code = error && error.code ? error.code : "error";
  const message = error && error.message ? error.message : String(error);
  return h("p", { class: "error", role: "alert" }, h("strong", null, `${status}${code}`), ": ", message);
}

/** A <dl> of [term, value] pairs. */
export function definitions(pairs) {
  return h(
    "dl",
    null,
    pairs.map(([term, value]) => [h("dt", null, term), h("dd", null, value)]),
  );
}
