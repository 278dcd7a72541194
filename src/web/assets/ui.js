// Small DOM helpers: every node is built with createElement and textContent (never HTML
// strings), so data from the API cannot become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG = "http://www.w3.org/2000/svg";
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  append(el, children);
  return el;
}

/** Says something to screen readers (the shell's polite live region). */
export function announce(message) {
  const region = document.getElementById("announce");
  region.textContent = "";
  setTimeout(() => (region.textContent = message), 50);
}

export function when(value) {
  if (!value) return "—";
  const d = new Date(value);
  return isNaN(d) ? String(value) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** A table with a caption and column headers; `rows` are arrays of cells. */
export function table(caption, headers, rows, empty = "Nothing yet.") {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))),
  );
}

/** An error message, announced assertively. */
export function problem(error) {
  const text = error && error.message ? error.message : String(error);
  const code = error && error.code ? ` (${error.code})` : "";
  return h("p", { class: "error", role: "alert" }, text + code);
}

export function badge(status) {
  return h("span", { class: `badge badge-${String(status).replace(/[^a-z_]/g, "")}` }, status);
}

/** A labelled form control; `control` is an input, select or textarea element. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const children = [h("label", { for: id }, label), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    children.push(h("p", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: "field" }, children);
}

/** A form whose submit runs `action` with the button disabled and errors shown in place. */
export function form(label, controls, submitText, action) {
  const status = h("div", { class: "form-status", "aria-live": "polite" });
  const button = h("button", { type: "submit" }, submitText);
  const el = h("form", { "aria-label": label }, controls, button, status);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    status.replaceChildren();
    try {
      await action(new FormData(el), status);
    } catch (e) {
      status.replaceChildren(problem(e));
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

export function link(href, text) {
  return h("a", { href }, text);
}

/** Saves a Blob as a file through a temporary same-document link. */
export function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, class: "visually-hidden" }, name);
  document.body.append(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(url);
    a.remove();
  }, 1000);
}
