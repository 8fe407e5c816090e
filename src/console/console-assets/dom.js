// Building the page from data without ever parsing data as HTML: every value becomes a text
// node (or an attribute set through the DOM), so nothing an API answer holds can run or inject
// markup: no string is ever parsed as HTML anywhere in the console.

/** h("a", { href: "/x", class: "id" }, "text", child, …): an element; strings and numbers become text. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const byId = (id) => document.getElementById(id);

/** Replaces a table's rows; shows its "empty" note when there are none. */
export function fillTable(id, rows) {
  byId(id).tBodies[0].replaceChildren(...rows);
  const empty = byId(`${id}-empty`);
  if (empty) empty.hidden = rows.length > 0;
}

export function row(attributes, ...cells) {
  return h("tr", attributes, ...cells.map((cell) => h("td", {}, cell)));
}

export function facts(id, pairs) {
  byId(id).replaceChildren(...pairs.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? "–")]));
}

/** A status as a badge the stylesheet colours. */
export function status(value) {
  return h("span", { class: `badge ${value}` }, value);
}

/** Data of an event, compact. */
export function json(value) {
  return h("code", { class: "json" }, JSON.stringify(value));
}

/** A short message under the page: what an action did, or why it failed. */
export function flash(message, kind = "ok") {
  const element = byId("flash");
  element.textContent = message;
  element.className = `flash ${kind}`;
  element.hidden = false;
}

export function flashError(error) {
  flash(error instanceof Error ? error.message : String(error), "error");
}

/**
 * A button for something that cannot be undone: the first click arms it ("Confirm …"), a second
 * one within five seconds runs the action. No window.confirm: it blocks the page's live updates.
 */
export function armed(button, confirmLabel, action) {
  const label = button.textContent;
  let timer = null;
  button.addEventListener("click", async () => {
    if (timer === null) {
      button.textContent = confirmLabel;
      button.classList.add("armed");
      timer = setTimeout(() => reset(), 5000);
      return;
    }
    reset();
    await run(button, action);
  });
  function reset() {
    clearTimeout(timer);
    timer = null;
    button.textContent = label;
    button.classList.remove("armed");
  }
}

/**
 * Says whether a button may be used now (a released lease's Release may not). While an action of
 * the button runs it stays disabled, and its end leaves it as the page said meanwhile: the page
 * may reload during the action (after it, or on a live event) and learn that it is of no more use.
 */
export function usable(button, yes) {
  if (yes) delete button.dataset.unusable;
  else button.dataset.unusable = "";
  if (!("running" in button.dataset)) button.disabled = !yes;
}

/** Runs an action from a button: disabled while it runs, its error shown; then usable as the page last said (`usable`). */
export async function run(button, action) {
  button.disabled = true;
  button.dataset.running = "";
  try {
    await action();
  } catch (error) {
    flashError(error);
  } finally {
    delete button.dataset.running;
    button.disabled = "unusable" in button.dataset;
  }
}

export function link(href, text) {
  return h("a", { href }, text);
}
