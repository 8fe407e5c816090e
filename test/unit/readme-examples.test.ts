import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import type { Drydock } from "../../src/service/drydock";
import { routesOf, type Route } from "../support/readme-curl";
import { bodyProblems, cliProblems, curlProblems, keyscanProblems, outputProblems, readReadme, type Readme } from "../support/readme-checks";

/**
 * README.md's examples work as written (test/support/readme-checks.ts). Every curl example names
 * a route the API has (method, path, query parameters; the app's own route definitions, from which
 * /openapi.json is generated), talks to the service's port with a token, and sends a JSON body that
 * parses and passes the route's own request schema (a blueprint's config also its kind's
 * parseConfig). Every JSON the README shows as output parses, and a curl's response shows only
 * fields the route returns. Every host of the SSH pool is pinned by an `ssh-keyscan` example that
 * passes the host's port and prints the fingerprint the config pins. `drydock` examples use
 * subcommands and flags the CLI's usage lists.
 *
 * Placeholders: request bodies have none (a reader pastes them). Shell variables (`$TOKEN`,
 * `$(cat …)`) are fine outside JSON; one used in a URL must be set by an earlier example.
 * Output may be abbreviated: `...` or `…` after a comma, right before a closing `}` or `]`, stands
 * for the fields left out; such output is checked field by field, complete output as a whole.
 */

const repoRoot = path.resolve(__dirname, "../..");
let routes: Route[];
let readme: Readme;

beforeAll(() => {
  // Building the app registers every route; the handlers, which would use the Drydock, never run
  // here (no request is made), so a Drydock without a database is enough.
  routes = routesOf(createApp({ database: { db: undefined, kind: "pglite" } } as unknown as Drydock));
  readme = readReadme(readFileSync(path.join(repoRoot, "README.md"), "utf8"), routes);
});

const sh = (...lines: string[]) => ["```sh", ...lines, "```", ""].join("\n");
const TOKEN = `-H "Authorization: Bearer $(cat .drydock/admin.token)"`;
const JSON_TYPE = `-H 'content-type: application/json'`;
const host = (name: string, address: string, extra = "") =>
  `{"name": "${name}", "address": "${address}",${extra} "user": "drydock", "privateKey": {"env": "KEY"}, "hostKeyFingerprint": "SHA256:eDPnVD1vKTipcNO1uk8ofkrp108f7uLRrxywzeu2xUA"}`;

describe("README.md examples", () => {
  it("are found (so the checks below cannot pass on none)", () => {
    expect(routes.length).toBeGreaterThanOrEqual(30);
    expect(readme.curls.length).toBeGreaterThanOrEqual(15);
    expect(readme.bodies.length).toBeGreaterThanOrEqual(4);
    expect(readme.bodies.some((b) => b.route.method === "PATCH" && b.route.path === "/v1/blueprints/{id}")).toBe(true);
    expect(readme.examples.some((e) => e.simple.some((w) => w[0] === "ssh-keyscan"))).toBe(true);
  });

  it("every curl names a route the API has, with its path and query parameters, on the service's port, with a token", () => {
    expect(curlProblems(readme)).toEqual([]);
  });

  it("every JSON request body parses and passes the route's schema; blueprint configs pass their kind's parseConfig", () => {
    expect(bodyProblems(readme)).toEqual([]);
  });

  it("every JSON output parses, and a curl's response has only fields its route returns (all of them unless abbreviated)", () => {
    expect(outputProblems(readme)).toEqual([]);
  });

  it("pins every SSH pool host with an ssh-keyscan example that passes its port and prints its pinned fingerprint", () => {
    expect(keyscanProblems(readme)).toEqual([]);
  });

  it("every drydock example uses a subcommand and flags the CLI's usage lists", () => {
    const usage = execFileSync(process.execPath, ["bin/drydock.js", "help"], { cwd: repoRoot, encoding: "utf8" });
    expect(readme.examples.filter((e) => e.simple.some((w) => w.includes("drydock"))).length).toBeGreaterThanOrEqual(10);
    expect(cliProblems(readme, usage)).toEqual([]);
  });
});

describe("the README checks catch", () => {
  const read = (markdown: string) => readReadme(markdown, routes);

  it("a route, query parameter, port or token that is wrong", () => {
    const problems = curlProblems(
      read(
        sh(
          `$ curl -s http://127.0.0.1:8080/v1/lease ${TOKEN}`,
          `$ curl -s 'http://127.0.0.1:8080/v1/leases?state=active' ${TOKEN}`,
          `$ curl -s http://127.0.0.1/v1/leases ${TOKEN}`,
          `$ curl -s http://127.0.0.1:8080/v1/leases`,
          `$ curl -s -X POST http://127.0.0.1:8080/v1/leases ${TOKEN} -d '{"resourceType":"host"}'`,
          `$ curl -s "$V/v1/leases" ${TOKEN}`,
        ),
      ),
    );
    expect(problems).toEqual([
      "line 2: GET /v1/lease: no such route in the OpenAPI document",
      expect.stringContaining("line 3: GET /v1/leases: no query parameter state"),
      "line 4: GET /v1/leases: talks to http://127.0.0.1, not the service at http://127.0.0.1:8080 (pass its port)",
      "line 5: GET /v1/leases: no Authorization: Bearer header (every route but /healthz needs a token)",
      "line 6: POST /v1/leases: sends JSON without -H 'content-type: application/json'",
      "line 7: the URL uses $V, which no earlier example sets",
    ]);
  });

  it("a body with `...`, a field the schema refuses, and a config its kind refuses", () => {
    const created = sh(
      `$ curl -s -X POST http://127.0.0.1:8080/v1/blueprints ${TOKEN} ${JSON_TYPE} -d '{"name": "pool", "kind": "static-hosts", "config": {"hosts": [${host("a", "10.0.0.1")}]}}'`,
      `{"id":"bp_01m8bfgb01ztdzvbbxtv","kind":"static-hosts",...}`,
    );
    const problems = bodyProblems(
      read(
        created +
          sh(
            `$ curl -s -X PATCH http://127.0.0.1:8080/v1/blueprints/bp_01m8bfgb01ztdzvbbxtv ${TOKEN} ${JSON_TYPE} -d '{"config": {"hosts": [{"name": "a", ...}]}}'`,
            `$ curl -s -X POST http://127.0.0.1:8080/v1/leases ${TOKEN} ${JSON_TYPE} -d '{"resourceType":"host","ttl":60}'`,
            `$ curl -s -X PATCH http://127.0.0.1:8080/v1/blueprints/bp_01m8bfgb01ztdzvbbxtv ${TOKEN} ${JSON_TYPE} -d '{"config": {"hosts": [{"name": "a"}]}}'`,
          ),
      ),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^line 6: PATCH \/v1\/blueprints\/bp_01m8bfgb01ztdzvbbxtv: the body is not valid JSON/),
      expect.stringMatching(/^line 7: POST \/v1\/leases: .*ttl/),
      expect.stringMatching(/^line 8: PATCH \/v1\/blueprints\/bp_01m8bfgb01ztdzvbbxtv: static-hosts config: config\.hosts\.0\.address/),
    ]);
  });

  it("output that does not parse, a field the response does not have, and a complete response missing one", () => {
    const problems = outputProblems(
      read(
        sh(
          `$ curl -s http://127.0.0.1:8080/v1/leases/ls_01m8becsk6stca1wyawh ${TOKEN}`,
          `{"id":"ls_01m8becsk6stca1wyawh","status":"active",…}`,
          `$ curl -s http://127.0.0.1:8080/v1/leases/ls_01m8becsk6stca1wyawh ${TOKEN}`,
          `{"id":"ls_01m8becsk6stca1wyawh","state":"active",...}`,
          `$ curl -s -X POST http://127.0.0.1:8080/v1/leases/ls_01m8becsk6stca1wyawh/commands ${TOKEN} ${JSON_TYPE} -d '{"argv":["true"]}'`,
          `{"exitCode":0}`,
          `$ curl -s http://127.0.0.1:8080/v1/leases ${TOKEN} | jq -c '.items[0]'`,
          `{"id": ... }`,
        ),
      ),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^line 4: the response is none of GET \/v1\/leases\/\{id\}'s: state: no such field/),
      expect.stringMatching(/^line 6: the response is none of POST \/v1\/leases\/\{id\}\/commands's: .*signal/),
      expect.stringMatching(/^line 8: output is not JSON/),
    ]);
  });

  it("a host on another port scanned without -p, a host never scanned, and a scan that prints another fingerprint", () => {
    const problems = keyscanProblems(
      read(
        sh(
          `$ ssh-keyscan -t ed25519 10.0.0.2 2>/dev/null | ssh-keygen -lf -`,
          `256 SHA256:Qw8pYb2KJm0v3RkXn5yA1sT6uE9hLc4dZ7fG0iNoP2w 10.0.0.2 (ED25519)`,
          `$ curl -s -X POST http://127.0.0.1:8080/v1/blueprints ${TOKEN} ${JSON_TYPE} -d '{"name": "pool", "kind": "static-hosts", "config": {"hosts": [`,
          `    ${host("a", "10.0.0.1")}, ${host("b", "10.0.0.2", ` "port": 2222,`)}]}}'`,
        ),
      ),
    );
    expect(problems).toEqual([
      "no ssh-keyscan example pins a (10.0.0.1, port 22)",
      "line 2: ssh-keyscan of 10.0.0.2 must pass -p 2222 (b listens on port 2222), not scan port 22",
      "line 2: ssh-keygen prints the host as [10.0.0.2]:2222, not 10.0.0.2",
      "line 2: b pins SHA256:eDPnVD1vKTipcNO1uk8ofkrp108f7uLRrxywzeu2xUA, the scan prints SHA256:Qw8pYb2KJm0v3RkXn5yA1sT6uE9hLc4dZ7fG0iNoP2w",
    ]);
  });

  it("a drydock subcommand or flag the CLI does not have", () => {
    const usage = "  drydock lease --type host [--wait[=S]]\n  drydock ls [leases|resources] [--json]";
    const problems = cliProblems(read(sh(`$ ID=$(npx drydock lease --type host --attr os=linux)`, `$ npx drydock leases`, `$ npx drydock ls --json`)), usage);
    expect(problems).toEqual(["line 2: drydock lease has no --attr", "line 3: drydock leases: no such subcommand"]);
  });
});
