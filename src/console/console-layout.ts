import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

/**
 * The frame every console page shares: the navigation, the login form and the <main> the page's
 * script fills. The server knows nothing about the user (the token lives in the browser tab), so
 * every page is the same public shell for everyone; what it shows comes from the JSON API, called
 * by the page's script with the tab's token. `html` escapes every interpolated value.
 */
export type Markup = HtmlEscapedString | Promise<HtmlEscapedString>;

export interface NavItem {
  section: string;
  label: string;
  href: string;
  /** Shown to admin tokens only: the API refuses clients there anyway. */
  adminOnly: boolean;
}

export const NAV: readonly NavItem[] = [
  { section: "leases", label: "Leases", href: "/console", adminOnly: false },
  { section: "resources", label: "Resources", href: "/console/resources", adminOnly: false },
  { section: "blueprints", label: "Blueprints", href: "/console/blueprints", adminOnly: false },
  { section: "authorizations", label: "Authorizations", href: "/console/authorizations", adminOnly: false },
  { section: "tokens", label: "Tokens", href: "/console/tokens", adminOnly: true },
  { section: "log", label: "Log", href: "/console/log", adminOnly: true },
];

export interface Shell {
  title: string;
  /** Which script module draws the page (console-assets/<page>-page.js). */
  page: string;
  /** The nav entry to mark as current. */
  section: string;
  /** The id the page is about (a lease, a resource, a blueprint), already checked by the route. */
  id?: string;
  body: Markup;
}

export function renderShell(shell: Shell): Markup {
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>${shell.title} · Drydock</title>
    <link rel="stylesheet" href="/console/assets/console.css">
    <script type="module" src="/console/assets/main.js"></script>
  </head>
  <body>
    <header class="top">
      <a class="brand" href="/console">Drydock</a>
      <nav>
        ${NAV.map(
          (item) =>
            html`<a href="${item.href}" ${item.section === shell.section ? html`aria-current="page"` : ""} ${item.adminOnly ? html`data-admin-only` : ""}>${item.label}</a>`,
        )}
      </nav>
      <span class="who" id="who"></span>
      <button type="button" id="logout" hidden>Log out</button>
    </header>
    <section id="login" class="login" hidden>
      <h1>Log in</h1>
      <form id="login-form">
        <label>Token <input id="login-token" type="password" autocomplete="off" spellcheck="false" placeholder="ddk_…" required></label>
        <button type="submit">Log in</button>
      </form>
      <p class="error" id="login-error" role="alert"></p>
      <p class="hint">
        The admin token is in <code>.drydock/admin.token</code> next to the service (<code>cat .drydock/admin.token</code>);
        a client uses the token an admin issued for it. The token stays in this browser tab only: closing the tab logs you out.
      </p>
    </section>
    <main id="page" data-page="${shell.page}" data-id="${shell.id ?? ""}" hidden>
      ${shell.body}
    </main>
    <p id="flash" class="flash" role="status" hidden></p>
  </body>
</html>
`;
}
