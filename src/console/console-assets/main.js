// The console's entry point: the login form, then the page's own module (data-page on <main>).
import { whenTokenRefused } from "./api.js";
import { byId, flashError } from "./dom.js";
import { forget, isAdmin, remember, role, token } from "./session.js";

const PAGES = {
  leases: () => import("./leases-page.js"),
  lease: () => import("./lease-page.js"),
  resources: () => import("./resources-page.js"),
  resource: () => import("./resource-page.js"),
  blueprints: () => import("./blueprints-page.js"),
  blueprint: () => import("./blueprint-page.js"),
  authorizations: () => import("./authorizations-page.js"),
  tokens: () => import("./tokens-page.js"),
  log: () => import("./log-page.js"),
};

const main = byId("page");
let started = false;

function showLogin(message = "") {
  main.hidden = true;
  byId("logout").hidden = true;
  byId("who").textContent = "";
  byId("login").hidden = false;
  byId("login-error").textContent = message;
  byId("login-token").focus();
}

/** What a token may do: 401 is no token at all; only an admin may list tokens. */
async function roleOf(candidate) {
  const headers = { authorization: `Bearer ${candidate}` };
  const leases = await fetch("/v1/leases?limit=1", { headers, cache: "no-store" });
  if (leases.status === 401) return { error: "That token was refused: check it (revoked, expired or mistyped?)." };
  if (leases.status === 403) return { error: "A metrics token reads /metrics only; log in with an admin or client token." };
  if (!leases.ok) return { error: `The service answered ${leases.status}; try again.` };
  const tokens = await fetch("/v1/tokens?limit=1", { headers, cache: "no-store" });
  return { role: tokens.ok ? "admin" : "client" };
}

async function login(event) {
  event.preventDefault();
  const input = byId("login-token");
  const candidate = input.value.trim();
  input.value = "";
  if (!candidate) return;
  try {
    const answer = await roleOf(candidate);
    if (answer.error) return showLogin(answer.error);
    remember(candidate, answer.role);
  } catch (error) {
    return showLogin(`Cannot reach the service: ${error.message}`);
  }
  // A page that already ran (its token was refused since) starts afresh, with nothing of the old token.
  if (started) location.reload();
  else await showPage();
}

async function showPage() {
  byId("login").hidden = true;
  byId("logout").hidden = false;
  byId("who").textContent = role() === "admin" ? "admin" : "client";
  for (const element of document.querySelectorAll("[data-admin-only]")) element.hidden = !isAdmin();
  main.hidden = false;
  started = true;
  try {
    const page = await PAGES[main.dataset.page]();
    await page.show(main.dataset.id || null);
  } catch (error) {
    if (error && error.status === 401) return;
    flashError(error);
  }
}

whenTokenRefused(showLogin);
byId("login-form").addEventListener("submit", login);
byId("logout").addEventListener("click", () => {
  forget();
  location.assign("/console");
});
if (token()) showPage();
else showLogin();
