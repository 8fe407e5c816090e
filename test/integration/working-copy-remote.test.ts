import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { approveAuthorization, requestAuthorization } from "../../src/auth/authorization-commands";
import { issueToken } from "../../src/auth/token-commands";
import { createBlueprint } from "../../src/commands/blueprint-commands";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { createLogger } from "../../src/service/logger";
import { createGitRepos, git, startGitDaemon, startGitHttp, type GitHttp, type GitRepos } from "../support/git-repos";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";

/**
 * Working copies of repositories served on loopback by `git daemon` and by `git http-backend`
 * behind HTTP basic auth, through the API. The token is a reference in the blueprint's config;
 * it must show up in no event, no API response, no log line and no process's argv.
 */
const TOKEN_ENV = `DRYDOCK_TEST_GIT_TOKEN_${randomBytes(4).toString("hex").toUpperCase()}`;
const TOKEN = `tok-${randomBytes(16).toString("hex")}`;
/** What would be on the wire, base64'd: also never to be seen. */
const ENCODED = Buffer.from(`x-access-token:${TOKEN}`).toString("base64");

let database: TestDatabase;
let drydock: Drydock;
let app: ReturnType<typeof createApp>;
let headers: Record<string, string>;
let root: string;
let repos: GitRepos;
let daemon: Awaited<ReturnType<typeof startGitDaemon>>;
let http: GitHttp;
let hosts: string;
const logLines: string[] = [];
const responses: string[] = [];
const shas: Record<string, string> = {};

beforeAll(async () => {
  process.env[TOKEN_ENV] = TOKEN;
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-wc-remote-"));
  repos = await createGitRepos();
  await repos.create("app", { "README.md": "app\n" });
  shas.main = await git(path.join(repos.root, "app"), "rev-parse", "HEAD");
  shas.feature = await repos.commit("app", "feature", { "feature.txt": "feature\n" });
  daemon = await startGitDaemon(repos, "app");
  http = await startGitHttp(repos, "x-access-token", TOKEN);
  drydock = await createDrydock({ database, localHost: false, logger: createLogger({ level: "debug", pretty: false, write: (line) => logLines.push(line) }) });
  app = createApp(drydock, { rateLimits: { leases: null, commands: null } });
  const { token } = await issueToken(drydock.commands, { owner: "ops", role: "admin" }, { actor: "system" });
  headers = { Authorization: `Bearer ${token}`, "content-type": "application/json" };
  hosts = (await api("POST", "/v1/blueprints", { name: "git-hosts", kind: "local-host", config: { root, slots: 4, sandbox: { network: true } } }, 201)).id as string;
});

afterAll(async () => {
  await drydock?.close();
  await database?.close();
  await daemon?.close();
  await http?.close();
  await repos?.close();
  await rm(root, { recursive: true, force: true });
  delete process.env[TOKEN_ENV];
});

async function api(method: string, url: string, body?: unknown, status?: number): Promise<Record<string, unknown>> {
  const res = await app.request(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  responses.push(text);
  if (status !== undefined) expect(res.status, text).toBe(status);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

async function copiesBlueprint(name: string): Promise<string> {
  const credentials = [{ urlPrefix: http.url(""), token: { env: TOKEN_ENV } }];
  const id = (await api("POST", "/v1/blueprints", { name, kind: "working-copy", config: { hostBlueprintIds: [hosts], credentials } }, 201)).id as string;
  const { authorizationId } = await requestAuthorization(drydock.commands, hosts, `blueprint:${id}`, { actor: "ops" });
  await approveAuthorization(drydock.commands, authorizationId, { actor: "ops" });
  return id;
}

async function exec(leaseId: string, argv: string[]): Promise<string> {
  const result = await api("POST", `/v1/leases/${leaseId}/commands`, { argv }, 200);
  expect(result.exitCode, String(result.stderr)).toBe(0);
  return String(result.stdout);
}

// Real clones on two shared cores: a case may take longer than the default minute.
describe("working copies of repositories served over git:// and http(s)", { timeout: 180_000 }, () => {
  it("clones over http with a token and merges from git daemon; the token is nowhere to be seen", async () => {
    const blueprintId = await copiesBlueprint("copies");
    const attributes = { repositoryURL: http.url("app"), ref: "main", merges: [{ repositoryURL: daemon.url("app"), ref: "feature" }] };
    const lease = await api("POST", "/v1/leases?wait=90", { resourceType: "working-copy", attributes, blueprintIds: [blueprintId] });
    const id = lease.id as string;
    await waitForLeaseStatus(drydock, id, ["active"], 90_000);
    expect(await exec(id, ["git", "rev-parse", "HEAD^1", "HEAD^2"])).toBe(`${shas.main}\n${shas.feature}\n`);
    expect(await exec(id, ["cat", "feature.txt"])).toBe("feature\n");
    // The remote URL git knows has no credentials in it, nor does the config.
    expect(await exec(id, ["git", "config", "--list", "--local"])).not.toMatch(/extraheader|tok-/i);

    // The server saw the token on fetches; while it served each, no process had it in its argv.
    expect(http.authorized.length).toBeGreaterThan(0);
    for (const seen of http.authorized) {
      // The client's git was running then: its fetch and its http transport are in the table.
      expect(seen.processArgs).toMatch(/git-remote-http|git .*fetch/);
      expect(seen.processArgs).not.toContain(TOKEN);
      expect(seen.processArgs).not.toContain(ENCODED);
    }

    // A second lease (git:// only) reuses nothing of the first's repository: its own copy.
    const other = await api("POST", "/v1/leases?wait=90", { resourceType: "working-copy", attributes: { repositoryURL: daemon.url("app"), commit: shas.feature } });
    await waitForLeaseStatus(drydock, other.id as string, ["active"], 90_000);
    expect(await exec(other.id as string, ["git", "rev-parse", "HEAD"])).toBe(`${shas.feature}\n`);
    expect((await api("GET", `/v1/leases/${other.id}`)).resourceId).not.toBe((await api("GET", `/v1/leases/${id}`)).resourceId);
    for (const leaseId of [id, other.id as string]) {
      await api("POST", `/v1/leases/${leaseId}/release`, {}, 200);
      await waitForLeaseStatus(drydock, leaseId, ["destroyed"]);
      await api("GET", `/v1/leases/${leaseId}/events`, undefined, 200);
    }

    await api("GET", "/v1/leases?limit=100", undefined, 200);
    await api("GET", "/v1/resources?limit=100", undefined, 200);
    await api("GET", `/v1/blueprints/${blueprintId}`, undefined, 200);
    await api("GET", "/v1/events?limit=1000", undefined, 200);
    const everything = [JSON.stringify(await drydock.store.readByPosition(0, 100_000)), ...responses, ...logLines].join("\n");
    expect(everything).toContain(TOKEN_ENV);
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain(ENCODED);
    expect(logLines.length).toBeGreaterThan(0);
  });

  it("a wrong token breaks the lease with git's answer, not the token", async () => {
    const blueprintId = await copiesBlueprint("copies-wrong-token");
    process.env[`${TOKEN_ENV}_WRONG`] = "not-the-token";
    try {
      await api("PATCH", `/v1/blueprints/${blueprintId}`, { config: { hostBlueprintIds: [hosts], credentials: [{ urlPrefix: http.url(""), token: { env: `${TOKEN_ENV}_WRONG` } }] } }, 200);
      const refusedBefore = http.refused;
      const lease = await api("POST", "/v1/leases", { resourceType: "working-copy", attributes: { repositoryURL: http.url("app"), ref: "main" }, blueprintIds: [blueprintId] }, 202);
      const ended = await waitForLeaseStatus(drydock, lease.id as string, ["broken", "released", "destroyed"], 90_000);
      expect(http.refused).toBeGreaterThan(refusedBefore);
      expect(ended.endReason).toMatch(/cannot fetch|Authentication failed|401/i);
      expect(ended.endReason).not.toContain("not-the-token");
    } finally {
      delete process.env[`${TOKEN_ENV}_WRONG`];
    }
  });

  it("refuses a config whose token variable is not set, naming the field", async () => {
    const body = await api("POST", "/v1/blueprints", { name: "copies-unset", kind: "working-copy", config: { credentials: [{ urlPrefix: "https://git.example.net/", token: { env: "DRYDOCK_TEST_NOT_SET_ANYWHERE" } }] } }, 400);
    expect(JSON.stringify(body)).toContain("config.credentials.0.token.env");
    const pasted = await api("POST", "/v1/blueprints", { name: "copies-pasted", kind: "working-copy", config: { credentials: [{ urlPrefix: "https://git.example.net/", token: "ghp_pasted" }] } }, 400);
    expect(JSON.stringify(pasted)).toContain("config.credentials.0.token");
  });
});
