import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * /docs is Swagger UI served by Drydock itself: its page loads only same-origin scripts and
 * styles (the swagger-ui-dist package this install pinned, no CDN), runs no inline script, and
 * every HTML page carries a Content-Security-Policy that allows nothing else. The page still
 * asks for a token and sends it, from a served script. All of it without a token: the page
 * holds no data.
 */
let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.close();
});

const anonymous = () => api.as(null);

/** Every URL the page loads, from src and href attributes. */
function referencedUrls(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href)\s*=\s*["']([^"']*)["']/gi)].map((m) => m[1]!);
}

function directives(csp: string): Map<string, string[]> {
  return new Map(
    csp
      .split(";")
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name!.toLowerCase(), values]),
  );
}

describe("/docs", () => {
  it("references only same-origin assets, and runs no inline script", async () => {
    const page = await anonymous().call("GET", "/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const urls = referencedUrls(page.text);
    expect(urls.length).toBeGreaterThanOrEqual(3);
    for (const url of urls) {
      expect(url, url).toMatch(/^\/(?!\/)/); // a path on this origin, not //host or scheme:
    }
    expect(page.text).not.toMatch(/cdn|jsdelivr|unpkg|https?:/i);
    // Every <script> has a src and an empty body; no event handler attributes.
    const scripts = [...page.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    expect(scripts.length).toBeGreaterThanOrEqual(2);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\bsrc=/);
      expect(body!.trim()).toBe("");
    }
    expect(page.text).not.toMatch(/\son[a-z]+\s*=/i);
  });

  it("serves each asset it references without a token, with its content type; the bundle is swagger-ui-dist's", async () => {
    const page = await anonymous().call("GET", "/docs");
    const types: Record<string, RegExp> = { ".js": /^text\/javascript; charset=utf-8$/, ".css": /^text\/css; charset=utf-8$/, ".png": /^image\/png$/ };
    for (const url of referencedUrls(page.text)) {
      const res = await anonymous().call("GET", url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get("content-type"), url).toMatch(types[path.extname(url)]!);
      expect(res.headers.get("x-content-type-options"), url).toBe("nosniff");
    }
    const dist = path.dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
    const bundle = await api.app.request("/docs/assets/swagger-ui-bundle.js", { headers: { Authorization: "" } });
    expect(Buffer.from(await bundle.arrayBuffer()).equals(await readFile(path.join(dist, "swagger-ui-bundle.js")))).toBe(true);
    expect(referencedUrls(page.text)).toEqual(expect.arrayContaining(["/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"]));
  });

  it("asks for the token and sends it from a served script, on requests to this origin", async () => {
    const page = await anonymous().call("GET", "/docs");
    const own = referencedUrls(page.text).filter((u) => u.endsWith(".js") && !u.includes("swagger-ui"));
    expect(own).toHaveLength(1);
    const script = await anonymous().call("GET", own[0]!);
    expect(script.text).toMatch(/sessionStorage/);
    expect(script.text).toMatch(/window\.prompt\(/);
    expect(script.text).toMatch(/requestInterceptor/);
    expect(script.text).toMatch(/"Bearer " \+ token/);
    expect(script.text).toMatch(/url: "\/openapi\.json"/);
  });

  it("serves nothing else from its asset directory: no listing, no path out of it", async () => {
    for (const url of ["/docs/assets/", "/docs/assets/package.json", "/docs/assets/..%2Fpackage.json", "/docs/assets/swagger-ui-bundle.js.map", "/docs/assets/index.html"]) {
      const res = await anonymous().call("GET", url);
      expect(res.status, url).toBeGreaterThanOrEqual(400);
      expect(res.status, url).toBeLessThan(500);
    }
  });
});

describe("every HTML page carries a Content-Security-Policy", () => {
  it("/docs's policy allows scripts, styles and connections to this origin only, and no inline script", async () => {
    const page = await anonymous().call("GET", "/docs");
    const csp = page.headers.get("content-security-policy");
    expect(csp).toBeTruthy();
    const d = directives(csp!);
    expect(d.get("default-src")).toEqual(["'none'"]);
    expect(d.get("script-src")).toEqual(["'self'"]);
    expect(d.get("connect-src")).toEqual(["'self'"]);
    expect(d.get("frame-ancestors")).toEqual(["'none'"]);
    expect(d.get("base-uri")).toEqual(["'none'"]);
    expect(d.get("object-src")).toEqual(["'none'"]);
    for (const [name, values] of d) {
      for (const v of values) expect(`${name} ${v}`).not.toMatch(/\*|https?:|'unsafe-eval'|script-src.*'unsafe-inline'/);
    }
  });

  it("whatever the route, token or status, an HTML response has the policy", async () => {
    const urls = ["/docs", "/docs/", "/docs?x=1", "/docs/assets/nope.js", "/healthz", "/openapi.json", "/nope", "/v1/leases", "/v1/leases/ls_0000000000000000000000"];
    let html = 0;
    for (const token of [null, api.adminToken]) {
      for (const url of urls) {
        for (const accept of ["text/html", "*/*"]) {
          const res = await api.as(token).call("GET", url, undefined, { accept });
          if (!(res.headers.get("content-type") ?? "").startsWith("text/html")) continue;
          html++;
          expect(res.headers.get("content-security-policy"), `${url} (${res.status})`).toMatch(/script-src 'self'/);
        }
      }
    }
    expect(html).toBeGreaterThanOrEqual(4);
  });
});
