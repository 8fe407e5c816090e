import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONSOLE_ASSETS } from "../../src/console/console-assets";
import { CONSOLE_PATHS } from "../../src/console/console-routes";
import { chromiumAvailable, chromiumMissingMessage, launchChromium, openPage } from "../support/browser";
import { listenOnLoopback, type LoopbackServer } from "../support/loopback-server";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * The web console in a real browser (Debian's Chromium through playwright-core), against the
 * service on a real socket: log in with the admin token, watch a lease asked for through the API
 * appear without a reload, read its timeline, release it from the page, approve an authorization,
 * and check that a client's token shows that client's leases only. The same run takes the
 * screenshots the README shows (docs/console/*.png).
 *
 * Every wait is Playwright's, with a timeout that throws: a page that never gets there fails the test.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SHOTS = path.join(repoRoot, "docs/console");
const WAIT = 10_000;

let api: ApiHarness;
let server: LoopbackServer;
let browser: Browser | undefined;
let launching: Promise<Browser> | undefined;
let context: BrowserContext;
let page: Page;
let problems: string[];
/** Every URL the admin's tab asked for. */
const requested: string[] = [];

beforeAll(async () => {
  // Chromium starts while the database is made: both take seconds.
  launching = chromiumAvailable ? launchChromium() : undefined;
  launching?.catch(() => {});
  // memory-pool: a blueprint whose teardowns can be made to fail, for the resource pages.
  api = await startApi({}, { blueprints: [memoryPoolBlueprint()] });
  server = await listenOnLoopback(api.app.fetch);
  if (!launching) return;
  browser = await launching;
  ({ context, page, problems } = await openPage(browser, `http://127.0.0.1:${server.port}`));
  page.on("request", (request) => requested.push(request.url()));
});
afterAll(async () => {
  // Also when beforeAll failed after Chromium started.
  await (browser ?? (await launching?.catch(() => undefined)))?.close();
  await server?.close();
  await api?.close();
});

if (!chromiumAvailable) console.warn(`skipping the console's browser tests: ${chromiumMissingMessage}`);
const itBrowser = chromiumAvailable ? it : it.skip;

const shown = (locator: Locator) => locator.waitFor({ state: "visible", timeout: WAIT });
const gone = (locator: Locator) => locator.waitFor({ state: "detached", timeout: WAIT });
const leaseRow = (p: Page, id: string) => p.locator(`#leases tbody tr[data-id="${id}"]`);
/**
 * The README's screenshots, taken by these tests when asked (DRYDOCK_SCREENSHOTS=1), so an
 * ordinary run leaves the checkout as it was. The screenshot itself is taken either way: a page
 * that cannot be rendered still fails the test.
 */
const screenshot = (p: Page, name: string) =>
  p.screenshot({ fullPage: true, ...(process.env.DRYDOCK_SCREENSHOTS ? { path: path.join(SHOTS, `${name}.png`) } : {}) });

/**
 * What a page did wrong that nobody asked for: script errors, CSP violations, refused or failed
 * requests, except those `expected` matches (a refusal the test provoked). Then starts afresh.
 */
function noProblems(list: string[] = problems, expected?: RegExp): void {
  const unexpected = list.filter((p) => !expected?.test(p));
  list.length = 0;
  expect(unexpected).toEqual([]);
}

/** Types the token into the login form and sends it; the caller waits for what should follow. */
async function submitToken(p: Page, token: string): Promise<void> {
  await shown(p.locator("#login-form"));
  await p.fill("#login-token", token);
  await p.click("#login-form button[type=submit]");
}

async function logIn(p: Page, token: string): Promise<void> {
  await submitToken(p, token);
  await shown(p.locator("#page"));
}

async function leaseHost(caller = api as Pick<ApiHarness, "call">): Promise<any> {
  const res = await caller.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

/** Releases a lease and waits until its slot is free again (the local host has two), so the next test can lease at once. */
async function giveBack(lease: { id: string }): Promise<void> {
  const res = await api.call("POST", `/v1/leases/${lease.id}/release`, {});
  expect(res.status, res.text).toBe(200);
  await api.pollLease(lease.id, (l) => l.status === "destroyed");
}

describe("the console's pages, without a browser", () => {
  it("every page and asset is served without a token, as HTML whose scripts are files of this origin", async () => {
    const anonymous = api.as(null);
    const samples: Record<string, string> = { "{id}": "ls_0000000000000000000000", "{name}": "main.js" };
    for (const template of CONSOLE_PATHS) {
      const url = template.replace(/\{(id|name)\}/, (m) => samples[m]!);
      const res = await anonymous.call("GET", url);
      if (url === "/" || url === "/console/leases") {
        expect(res.status, url).toBe(302);
        expect(res.headers.get("location"), url).toBe("/console");
        continue;
      }
      expect(res.status, `${url}: ${res.text}`).toBe(200);
      if (url.startsWith("/console/assets/")) continue;
      expect(res.headers.get("content-type"), url).toMatch(/^text\/html/);
      expect(res.headers.get("content-security-policy"), url).toContain("script-src 'self'");
      const scripts = [...res.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
      expect(scripts.length, url).toBe(1);
      expect(scripts[0]![1], url).toMatch(/src="\/console\/assets\/main\.js"/);
      expect(scripts[0]![2]!.trim(), url).toBe("");
      expect(res.text, url).not.toMatch(/\son[a-z]+\s*=/i);
    }
  });

  it("serves every file of console-assets/ with its type, and only those, by name; an unchanged one as a 304", async () => {
    const files = (await readdir(path.join(repoRoot, "src/console/console-assets"))).sort();
    expect(Object.keys(CONSOLE_ASSETS).sort()).toEqual(files);
    for (const name of files) {
      const res = await api.as(null).call("GET", `/console/assets/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get("content-type"), name).toBe(name.endsWith(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8");
      // Every module a script imports is one the server serves.
      for (const [, imported] of res.text.matchAll(/(?:from|import\()\s*"\.\/([^"]+)"/g)) expect(files, `${name} imports ${imported}`).toContain(imported);
      // Data is never parsed as HTML.
      expect(res.text, name).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
      // The browser revalidates each time (an upgrade never mixes versions), and an unchanged file costs a 304.
      expect(res.headers.get("cache-control"), name).toBe("no-cache");
      const again = await api.as(null).call("GET", `/console/assets/${name}`, undefined, { "if-none-match": res.headers.get("etag")! });
      expect(again.status, name).toBe(304);
      expect(again.text, name).toBe("");
    }
    expect((await api.as(null).call("GET", "/console/assets/..%2Fconsole-routes.ts")).status).toBe(404);
    expect((await api.as(null).call("GET", "/console/leases/not-an-id")).status).toBe(404);
  });
});

describe.sequential("the console in Chromium", () => {
  let lease: any;
  /** A whole second at which the lease was active and not yet released: the log page's time picker goes there. */
  let whileActive: Date;

  itBrowser("/ opens the console, which asks for a token and keeps it in this browser tab only", async () => {
    await page.goto("/");
    await page.waitForURL(/\/console$/, { timeout: WAIT });
    await submitToken(page, "ddk_not-a-token");
    await shown(page.locator("#login-error", { hasText: "refused" }));
    noProblems(problems, /^401 GET \/v1\/leases\?limit=1$/);
    await logIn(page, api.adminToken);
    await shown(page.locator("#leases"));
    expect(await page.textContent("#who")).toBe("admin");

    expect(await context.cookies()).toEqual([]);
    expect(await page.evaluate(() => (globalThis as any).localStorage.length)).toBe(0);
    expect(await page.evaluate(() => (globalThis as any).sessionStorage.getItem("drydock-token"))).toBe(api.adminToken);
    expect(page.url()).not.toContain(api.adminToken);
    // Another tab of the same browser starts logged out.
    const other = await context.newPage();
    await other.goto("/console");
    await shown(other.locator("#login-form"));
    expect(await other.locator("#page").isHidden()).toBe(true);
    await other.close();
    noProblems();
  });

  itBrowser("a lease asked for through the API appears in the list as it happens, without a reload", async () => {
    await shown(page.locator('#live[data-state="live"]'));
    // Marks this document: a reload or a navigation would make a new one, without the mark.
    await page.evaluate(() => ((globalThis as any).sameDocument = true));
    lease = await leaseHost();
    await shown(leaseRow(page, lease.id).locator(".badge", { hasText: "active" }));
    expect(await leaseRow(page, lease.id).textContent()).toContain("host");
    expect(await page.evaluate(() => (globalThis as any).sameDocument)).toBe(true);
    whileActive = new Date(Math.ceil((Date.parse(lease.activatedAt) + 1) / 1000) * 1000);
    await screenshot(page, "leases");
    noProblems();
  });

  itBrowser("the lease page shows its timeline from explain: the wait by cause, the allocation attempt and its candidates", async () => {
    await page.click(`#leases a:text-is("${lease.id}")`);
    await page.waitForURL(`**/console/leases/${lease.id}`, { timeout: WAIT });
    const explanation = (await api.call("GET", `/v1/leases/${lease.id}/explain`)).body;
    // The summary ends with how long it has been active, which grows: the rest is fixed.
    expect(explanation.summary).toContain("; it has been active");
    await shown(page.locator("#explain-summary", { hasText: explanation.summary.split("; it has been active")[0] }));
    const attempt = page.locator('#timeline tr[data-event="AllocationAttempted"]');
    await shown(attempt.first());
    const chosen = explanation.timeline.flatMap((s: any) => s.candidates ?? []).find((c: any) => c.outcome === "chosen");
    expect(chosen).toBeDefined();
    expect(await attempt.first().locator("li.chosen").first().textContent()).toContain(chosen.reason);
    expect(await page.locator("#waits tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-cause")))).toEqual(
      explanation.waits.map((w: any) => w.cause),
    );
    const events = (await api.call("GET", `/v1/leases/${lease.id}/events`)).body.items;
    expect(await page.locator("#events tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-type")))).toEqual(events.map((e: any) => e.type));
    await screenshot(page, "lease");
    noProblems();
  });

  itBrowser("Release on the lease page releases it, the page follows it to destroyed, and the list's status filter sees it", async () => {
    // The log page goes back to `whileActive` later: the release must come after it.
    while (Date.now() < whileActive.getTime() + 100) await new Promise((r) => setTimeout(r, 50));
    const release = page.locator("#release");
    await release.click();
    await shown(page.locator("#release", { hasText: "Confirm release" }));
    await release.click();
    await shown(page.locator("#lease-status .badge", { hasText: "destroyed" }));
    const after = (await api.call("GET", `/v1/leases/${lease.id}`)).body;
    expect(after.status).toBe("destroyed");
    const released = (await api.call("GET", `/v1/leases/${lease.id}/events`)).body.items.find((e: any) => e.type === "LeaseReleased");
    expect(released.metadata.actor).toBe("admin");
    expect(await release.isDisabled()).toBe(true);

    // The list says so too, and its status filter leaves it out of the active ones.
    await page.click('nav a:text-is("Leases")');
    await shown(leaseRow(page, lease.id).locator(".badge", { hasText: "destroyed" }));
    await page.check('#lease-filter input[value="active"]');
    await gone(leaseRow(page, lease.id));
    await page.check('#lease-filter input[value="destroyed"]');
    await shown(leaseRow(page, lease.id));
    noProblems();
  });

  itBrowser("an admin approves a pending authorization, and the client can lease at once", async () => {
    const issued = (await api.call("POST", "/v1/tokens", { owner: "carol", role: "client" })).body;
    const carol = api.as(issued.token);
    const blueprintId = await api.localHostBlueprintId();
    const asked = await carol.call("POST", `/v1/blueprints/${blueprintId}/authorizations`, {});
    expect(asked.status, asked.text).toBe(201);
    expect((await carol.call("POST", "/v1/leases", { resourceType: "host" })).status).toBe(403);

    await page.click('nav a:text-is("Authorizations")');
    const row = page.locator('#authorizations tr[data-client="carol"]');
    await shown(row.locator(".badge", { hasText: "requested" }));
    await screenshot(page, "authorizations");
    await row.locator("button.approve").click();
    await shown(page.locator("#flash", { hasText: "carol on local-host: approved" }));
    await gone(row); // the list shows pending ones: carol's is decided
    const decided = (await api.call("GET", `/v1/authorizations/${asked.body.id}`)).body;
    expect(decided).toMatchObject({ state: "approved", decidedBy: "admin" });
    const carolsLease = await leaseHost(carol);
    expect(carolsLease.owner).toBe("carol");
    await giveBack(carolsLease);
    noProblems();
  });

  itBrowser("resources by blueprint show their leases against their slots, as they change", async () => {
    await page.click('nav a:text-is("Resources")');
    const first = await leaseHost();
    const resource = page.locator(`#by-blueprint tr[data-id="${first.resourceId}"]`);
    await shown(resource.locator(".slots", { hasText: "1 / 2" }));
    const second = await leaseHost();
    expect(second.resourceId).toBe(first.resourceId);
    await shown(resource.locator(".slots", { hasText: "2 / 2" }));
    await screenshot(page, "resources");

    await resource.locator("a").first().click();
    await page.waitForURL(`**/console/resources/${first.resourceId}`, { timeout: WAIT });
    for (const id of [first.id, second.id]) await shown(page.locator(`#resource-leases tr[data-id="${id}"]`));
    await shown(page.locator("#events tbody tr").first());
    const history = (await api.call("GET", `/v1/resources/${first.resourceId}/events`)).body.items.map((e: any) => e.type);
    expect(await page.locator("#events tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-type")))).toEqual(history);
    await screenshot(page, "resource");
    for (const l of [first, second]) await giveBack(l);
    noProblems();
  });

  itBrowser("a resource whose teardown keeps failing says so, on the list and on its page", async () => {
    const blueprint = await api.call("POST", "/v1/blueprints", { name: "no-terminate", kind: "memory-pool", config: { labels: ["nt"], failDestroy: true } });
    expect(blueprint.status, blueprint.text).toBe(201);
    const lease = await api.call("POST", "/v1/leases?wait=10", { resourceType: "sandbox", attributes: { labels: ["nt"] } });
    expect(lease.status, lease.text).toBe(201);
    await giveBack(lease.body);
    const resourceId: string = lease.body.resourceId;
    expect((await api.call("POST", `/v1/resources/${resourceId}/release`, {})).status).toBe(200);

    await page.click('nav a:text-is("Resources")');
    await shown(page.locator(`#by-blueprint tr[data-id="${resourceId}"]`, { hasText: /teardown failed \d+ times?: UnauthorizedOperation/ }));
    await page.goto(`/console/resources/${resourceId}`);
    await shown(page.locator("#resource-facts", { hasText: /teardown failed \d+ times?: UnauthorizedOperation: you are not authorized to perform TerminateInstances \(next try / }));
    // Fixed, it goes: the PATCH tries the teardown again at once.
    expect((await api.call("PATCH", `/v1/blueprints/${blueprint.body.id}`, { config: { labels: ["nt"], failDestroy: false } })).status).toBe(200);
    await shown(page.locator("#resource-status", { hasText: "destroyed" }));
    expect((await api.call("POST", `/v1/blueprints/${blueprint.body.id}/disable`, {})).status).toBe(200);
    noProblems();
  });

  itBrowser("a blueprint is created, changed, disabled and enabled from its page", async () => {
    await page.goto("/console/blueprints/new");
    await shown(page.locator("#blueprint-form"));
    await page.fill('[name="name"]', "nightly");
    await page.selectOption('[name="kind"]', "local-host");
    await page.fill('[name="resourceLimit"]', "3");
    await page.fill('[name="config"]', JSON.stringify({ root: path.join(api.root, "nightly"), slots: 1 }));
    await page.click('#blueprint-form button[type="submit"]');
    await page.waitForURL(/\/console\/blueprints\/bp_/, { timeout: WAIT });
    const id = page.url().split("/").at(-1)!;
    await shown(page.locator("#blueprint-status .badge", { hasText: "enabled" }));
    expect((await api.call("GET", `/v1/blueprints/${id}`)).body).toMatchObject({ name: "nightly", kind: "local-host", resourceLimit: 3, enabled: true, config: { slots: 1 } });

    await page.fill('[name="resourceLimit"]', "5");
    await page.click('#blueprint-form button[type="submit"]');
    await shown(page.locator("#flash", { hasText: "Saved" }));
    expect((await api.call("GET", `/v1/blueprints/${id}`)).body.resourceLimit).toBe(5);

    await page.click("#toggle-enabled");
    await shown(page.locator("#blueprint-status .badge", { hasText: "disabled" }));
    expect((await api.call("GET", `/v1/blueprints/${id}`)).body.enabled).toBe(false);
    await page.click('#toggle-enabled:text-is("Enable")');
    await shown(page.locator("#blueprint-status .badge", { hasText: "enabled" }));
    expect((await api.call("GET", `/v1/blueprints/${id}`)).body.enabled).toBe(true);

    // A config the API refuses is shown with the API's words, and nothing changes.
    await page.fill('[name="config"]', JSON.stringify({ slots: 0 }));
    await page.click('#blueprint-form button[type="submit"]');
    await shown(page.locator("#flash.error", { hasText: "slots" }));
    expect((await api.call("GET", `/v1/blueprints/${id}`)).body.config.slots).toBe(1);

    await page.click('nav a:text-is("Blueprints")');
    await shown(page.locator(`#blueprints tr[data-id="${id}"]`, { hasText: "0 of 5" }));
    await screenshot(page, "blueprints");
    noProblems(problems, /^400 PATCH \/v1\/blueprints\/bp_\w+$/);
  });

  itBrowser("a token issued on the page is shown once and works; revoked on the page, it is refused", async () => {
    await page.click('nav a:text-is("Tokens")');
    await page.fill('[name="owner"]', "dave");
    await page.click('#token-form button[type="submit"]');
    await shown(page.locator("#issued"));
    const secret = (await page.textContent("#issued-token"))!;
    expect(secret).toMatch(/^ddk_/);
    expect((await api.as(secret).call("GET", "/v1/leases")).status).toBe(200);
    await page.click("#issued-hide");
    await page.reload();
    await shown(page.locator('#tokens tr[data-owner="dave"]'));
    expect(await page.content()).not.toContain(secret);
    await screenshot(page, "tokens");

    const revoke = page.locator('#tokens tr[data-owner="dave"] button.revoke');
    await revoke.click();
    await revoke.click();
    await shown(page.locator('#tokens tr[data-owner="dave"] .badge', { hasText: "revoked" }));
    expect((await api.as(secret).call("GET", "/v1/leases")).status).toBe(401);
    noProblems();
  });

  itBrowser("the log filters by type, and its time picker shows the pool as it stood at that moment", async () => {
    await page.click('nav a:text-is("Log")');
    // The page's script has shown the pool, so its filter form is in its hands: a submit before
    // that would be the browser's own, a navigation (a loaded machine once took 10 s over it).
    await shown(page.locator("#pool-heading", { hasText: "The pool now" }));
    await page.fill('[name="type"]', "LeaseReleased");
    await page.click('#log-filter button[type="submit"]');
    await shown(page.locator(`#log tr[data-type="LeaseReleased"] a:text-is("${lease.id}")`));
    // The unfiltered log shows that row too: wait for the filtered page to replace it.
    await gone(page.locator('#log tbody tr:not([data-type="LeaseReleased"])').first());
    expect(new Set(await page.locator("#log tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-type"))))).toEqual(new Set(["LeaseReleased"]));
    await shown(page.locator(`#pool-leases tr[data-id="${lease.id}"] .badge`, { hasText: "destroyed" }));

    // The browser's zone is UTC (openPage), so the picker's local time is the UTC time.
    await page.fill('[name="asOf"]', whileActive.toISOString().slice(0, 19));
    await page.click('#log-filter button[type="submit"]');
    await shown(page.locator("#pool-heading", { hasText: whileActive.toISOString() }));
    await shown(page.locator(`#pool-leases tr[data-id="${lease.id}"] .badge`, { hasText: "active" }));
    expect(await page.locator("#log tbody tr").count()).toBe(0); // it was released after that moment
    await page.fill('[name="type"]', "");
    await page.click('#log-filter button[type="submit"]');
    await shown(page.locator(`#log tr[data-type="LeaseActivated"] a:text-is("${lease.id}")`));
    await screenshot(page, "log");
    noProblems();
  });

  itBrowser("the admin's token went in no URL the pages asked for, the event stream's included", async () => {
    expect(requested.filter((u) => u.includes("/v1/events/stream")).length).toBeGreaterThan(0);
    expect(requested.filter((u) => u.includes("/console/assets/")).length).toBeGreaterThan(0);
    expect(requested.filter((u) => u.includes(api.adminToken))).toEqual([]);
  });

  itBrowser("a client's token shows its own leases, never another client's, and no admin pages; revoked, it is logged out", async () => {
    const [alice, bob] = [await api.client("alice"), await api.client("bob")];
    const [alicesLease, bobsLease] = [await leaseHost(alice), await leaseHost(bob)];
    const tab = await openPage(browser!, `http://127.0.0.1:${server.port}`);
    try {
      await tab.page.goto("/console");
      await logIn(tab.page, bob.token);
      await shown(leaseRow(tab.page, bobsLease.id));
      expect(await tab.page.textContent("#who")).toBe("client");
      expect(await tab.page.locator("#leases tbody tr").count()).toBe(1);
      expect(await tab.page.content()).not.toContain(alicesLease.id);
      expect(await tab.page.locator('nav a:text-is("Tokens")').isHidden()).toBe(true);
      // A client may not follow the whole log: its list is polled instead.
      await shown(tab.page.locator('#live[data-state="polling"]'));

      await tab.page.goto(`/console/leases/${alicesLease.id}`);
      await shown(tab.page.locator("#flash.error", { hasText: `lease ${alicesLease.id} not found` }));
      expect(await tab.page.locator("#timeline tbody tr").count()).toBe(0);
      expect(await tab.page.locator("#events tbody tr").count()).toBe(0);
      expect(await tab.page.textContent("#lease-facts")).toBe("");

      await tab.page.goto("/console/resources");
      await shown(tab.page.locator(`#by-blueprint tr[data-id="${bobsLease.resourceId}"]`));
      // The refusals the client's pages met are what the API should say: 404 for alice's lease,
      // 403 for the log's stream and for the token list (how the login tells a client from an admin).
      noProblems(tab.problems, new RegExp(`^(404 GET /v1/leases/${alicesLease.id}(/events|/explain)?|403 GET /v1/events/stream\\?since=\\S+|403 GET /v1/tokens\\?limit=1)$`));

      // Revoked while the page is open: its next refresh is refused, and the tab forgets the token.
      expect((await api.call("DELETE", `/v1/tokens/${bob.tokenId}`)).status).toBe(200);
      await shown(tab.page.locator("#login-error", { hasText: "log in again" }));
      expect(await tab.page.evaluate(() => (globalThis as any).sessionStorage.length)).toBe(0);
      expect(await tab.page.locator("#page").isHidden()).toBe(true);
      // The resources page may still have asked for the log's stream (403) before the revocation.
      noProblems(tab.problems, /^(401 GET \/v1\/|403 GET \/v1\/events\/stream\?since=\S+$)/);
    } finally {
      await tab.context.close();
      for (const l of [alicesLease, bobsLease]) await giveBack(l);
    }
  });
});
