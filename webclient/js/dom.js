// Small DOM helpers: elements are built with properties and children, never from HTML strings.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "testid") el.dataset.testid = value;
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key in el && !key.includes("-") && key !== "list" && key !== "form") {
      el[key] = value;
    } else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function formatDate(epochSeconds, lang) {
  if (!epochSeconds) return "";
  return new Date(epochSeconds * 1000).toLocaleString(lang === "en" ? "en-GB" : "es-ES",
    { dateStyle: "short", timeStyle: "short" });
}

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { htmlFor: id }, label), input,
    hint ? h("small", { class: "hint" }, hint) : null);
}

export function toast(message, kind = "info", ms = 4000) {
  let box = document.getElementById("toasts");
  if (!box) {
    box = h("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const item = h("div", { class: `toast ${kind}`, testid: "toast" }, message);
  box.append(item);
  setTimeout(() => item.remove(), ms);
}

export function icon(name) {
  return h("img", { src: `/img/${name}.svg`, alt: "", width: 20, height: 20, class: "icon-img" });
}

// Loads of one view overlap (a filter changed, a push arrived, a button was pressed twice) and
// their answers may arrive out of order. `const latestLoad = latest();` then, in the loader,
// `await latestLoad(fetching)`: it settles as `fetching` does unless a later call began
// meanwhile; then it never settles, so an older answer (or its error) never replaces a newer.
export function latest() {
  let generation = 0;
  return (promise) => {
    const mine = ++generation;
    return new Promise((resolve, reject) => {
      promise.then((value) => { if (mine === generation) resolve(value); },
        (err) => { if (mine === generation) reject(err); });
    });
  };
}
