import { html } from "hono/html";
import type { Markup, Shell } from "./console-layout";

/**
 * The static part of each page: headings, filter forms, empty tables and buttons. The page's
 * script (console-assets/<page>-page.js) finds them by id and fills them from the API.
 */

const LEASE_STATUSES = ["pending", "acquired", "active", "released", "broken", "destroyed"];
const AUTHORIZATION_STATES = ["requested", "approved", "declined", "revoked"];

function table(id: string, headings: string[], empty: string): Markup {
  return html`<table id="${id}">
    <thead><tr>${headings.map((h) => html`<th>${h}</th>`)}</tr></thead>
    <tbody></tbody>
  </table>
  <p class="empty" id="${id}-empty" hidden>${empty}</p>`;
}

export function leasesPage(): Shell {
  return {
    title: "Leases",
    page: "leases",
    section: "leases",
    body: html`<h1>Leases <span class="live" id="live" title="Updated from the event stream"></span></h1>
      <form id="lease-filter" class="filters">
        <fieldset>
          <legend>Status</legend>
          ${LEASE_STATUSES.map((s) => html`<label><input type="checkbox" name="status" value="${s}"> ${s}</label>`)}
        </fieldset>
        <label>Type <input name="resourceType" size="10" placeholder="host"></label>
        <label data-admin-only>Owner <input name="owner" size="10" placeholder="any"></label>
      </form>
      ${table("leases", ["Lease", "Status", "Type", "Resource", "Owner", "Requested", "Expires", "Waiting because"], "No leases match.")}
      <nav class="pager"><button type="button" id="newer" disabled>← Newer</button><button type="button" id="older" disabled>Older →</button></nav>`,
  };
}

export function leasePage(id: string): Shell {
  return {
    title: `Lease ${id}`,
    page: "lease",
    section: "leases",
    id,
    body: html`<h1>Lease <code>${id}</code> <span class="status" id="lease-status"></span> <span class="live" id="live"></span></h1>
      <dl id="lease-facts" class="facts"></dl>
      <div class="actions">
        <button type="button" id="release" disabled>Release</button>
        <label>TTL (s) <input id="renew-ttl" type="number" min="1" value="3600" size="7"></label>
        <button type="button" id="renew" disabled>Renew</button>
      </div>
      <h2>Why it waited</h2>
      <p id="explain-summary" class="summary"></p>
      ${table("waits", ["Cause", "Time", "Detail"], "It did not wait.")}
      <h2>Timeline</h2>
      ${table("timeline", ["At", "Step took", "Event", "Lease", "What happened", "Candidates"], "No steps yet.")}
      <h2>Events</h2>
      ${table("events", ["#", "Event", "Recorded", "Actor", "Data"], "No events.")}`,
  };
}

export function resourcesPage(): Shell {
  return {
    title: "Resources",
    page: "resources",
    section: "resources",
    body: html`<h1>Resources <span class="live" id="live"></span></h1>
      <form id="resource-filter" class="filters">
        <label><input type="checkbox" name="ended"> show released and destroyed</label>
      </form>
      <div id="by-blueprint"></div>
      <p class="empty" id="by-blueprint-empty" hidden>No resources.</p>`,
  };
}

export function resourcePage(id: string): Shell {
  return {
    title: `Resource ${id}`,
    page: "resource",
    section: "resources",
    id,
    body: html`<h1>Resource <code>${id}</code> <span class="status" id="resource-status"></span> <span class="live" id="live"></span></h1>
      <dl id="resource-facts" class="facts"></dl>
      <div class="actions" data-admin-only>
        <label>Reason <input id="release-reason" size="30" placeholder="optional"></label>
        <button type="button" id="release" disabled>Release</button>
        <button type="button" id="drain" hidden>Drain host</button>
      </div>
      <h2>Leases</h2>
      ${table("resource-leases", ["Lease", "Status", "Owner", "Requested", "Ended"], "No leases on it.")}
      <h2>History</h2>
      ${table("events", ["#", "Event", "Recorded", "Actor", "Data"], "No events.")}`,
  };
}

export function blueprintsPage(): Shell {
  return {
    title: "Blueprints",
    page: "blueprints",
    section: "blueprints",
    body: html`<h1>Blueprints</h1>
      <p data-admin-only><a href="/console/blueprints/new">New blueprint</a></p>
      ${table("blueprints", ["Name", "Kind", "Type", "State", "Resources in use", "Failing", ""], "No blueprints.")}`,
  };
}

/** One page to create (id "new") or edit a blueprint: its config is edited as JSON. */
export function blueprintPage(id: string | null): Shell {
  const creating = id === null;
  return {
    title: creating ? "New blueprint" : `Blueprint ${id}`,
    page: "blueprint",
    section: "blueprints",
    id: id ?? "",
    body: html`<h1>${creating ? "New blueprint" : html`Blueprint <code>${id}</code> <span class="status" id="blueprint-status"></span>`}</h1>
      <form id="blueprint-form" class="editor">
        <label>Name <input name="name" required maxlength="100"></label>
        <label>Kind
          <select name="kind" ${creating ? "" : html`disabled`}>
            <option value="local-host">local-host</option>
            <option value="static-hosts">static-hosts</option>
            <option value="ec2-host">ec2-host</option>
          </select>
        </label>
        <label>Resource limit <input name="resourceLimit" type="number" min="1" placeholder="${creating ? "the kind's default" : "no limit"}"></label>
        <label class="wide">Config (JSON; references to secrets, never secrets)
          <textarea name="config" rows="18" spellcheck="false">{}</textarea>
        </label>
        <div class="actions">
          <button type="submit">${creating ? "Create" : "Save"}</button>
          ${creating ? "" : html`<button type="button" id="toggle-enabled" disabled>Disable</button>`}
        </div>
      </form>
      ${creating ? "" : html`<dl id="blueprint-facts" class="facts"></dl>
      <h2>History</h2>
      ${table("events", ["#", "Event", "Recorded", "Actor", "Data"], "No events.")}`}`,
  };
}

export function authorizationsPage(): Shell {
  return {
    title: "Authorizations",
    page: "authorizations",
    section: "authorizations",
    body: html`<h1>Authorizations <span class="live" id="live"></span></h1>
      <form id="authorization-filter" class="filters">
        <label>State
          <select name="state">
            ${AUTHORIZATION_STATES.map((s) => html`<option value="${s}">${s === "requested" ? "requested (pending)" : s}</option>`)}
            <option value="">all</option>
          </select>
        </label>
      </form>
      ${table("authorizations", ["Client", "Blueprint", "State", "Requested", "Decided", ""], "Nothing here.")}`,
  };
}

export function tokensPage(): Shell {
  return {
    title: "Tokens",
    page: "tokens",
    section: "tokens",
    body: html`<h1>Tokens</h1>
      <form id="token-form" class="filters">
        <label>Owner <input name="owner" required maxlength="64" size="12" placeholder="ci"></label>
        <label>Role
          <select name="role"><option value="client">client</option><option value="admin">admin</option><option value="metrics">metrics</option></select>
        </label>
        <label>Expires in (s) <input name="expiresInSeconds" type="number" min="1" size="8" placeholder="never"></label>
        <label>Default lease TTL (s) <input name="defaultLeaseTtlSeconds" type="number" min="1" size="8" placeholder="default"></label>
        <button type="submit">Issue</button>
      </form>
      <div id="issued" class="issued" hidden>
        <p>The token for <strong id="issued-owner"></strong>, shown this once (only its hash is kept): copy it now.</p>
        <pre id="issued-token"></pre>
        <button type="button" id="issued-hide">Done</button>
      </div>
      ${table("tokens", ["Id", "Owner", "Role", "Status", "Expires", "Issued", ""], "No tokens.")}`,
  };
}

export function logPage(): Shell {
  return {
    title: "Log",
    page: "log",
    section: "log",
    body: html`<h1>Log</h1>
      <form id="log-filter" class="filters">
        <label>Types <input name="type" size="24" placeholder="LeaseReleased,LeaseBroken"></label>
        <label>Stream <input name="stream" size="28" placeholder="lease-ls_…"></label>
        <label>Actor <input name="actor" size="10" placeholder="anyone"></label>
        <label>Events of the last
          <select name="window">
            <option value="600000">10 minutes</option>
            <option value="3600000" selected>hour</option>
            <option value="86400000">day</option>
            <option value="604800000">week</option>
          </select>
        </label>
        <label>As of <input name="asOf" type="datetime-local" step="1"></label>
        <button type="submit">Show</button>
        <button type="button" id="now">Now</button>
      </form>
      <p id="as-of-note" class="summary"></p>
      <h2 id="pool-heading">The pool</h2>
      <div class="columns">
        <section><h3>Leases</h3>${table("pool-leases", ["Lease", "Status", "Owner", "Resource"], "No leases.")}</section>
        <section><h3>Resources</h3>${table("pool-resources", ["Resource", "Status", "Blueprint", "Leases"], "No resources.")}</section>
      </div>
      <h2>Events</h2>
      <p id="log-note" class="summary"></p>
      ${table("log", ["#", "Event", "Stream", "Recorded", "Actor", "Data"], "No events match.")}`,
  };
}
