/**
 * Issue #12's whole walk over HTTP, as the README's "Working copies and previews" tells it: lease a
 * checkout of a repository at a commit with a merge on top, on a static SSH host (a real sshd);
 * run its tests in it; serve its output through the httpd interface and read the page through
 * /v1/leases/{id}/http/ (the lease's SSH connection, forwardOut); release it, and the server is
 * gone with the lease; the log verifies.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, expect, it } from "vitest";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { createGitRepos, git, type GitRepos } from "../support/git-repos";
import { hostEntry } from "../support/ssh-pool";
import { sshdAvailable, sshdMissingMessage, startSshHosts, type SshHosts } from "../support/sshd";
import { freePort } from "../support/free-port";
import { waitUntil } from "../support/wait-until";
import { startApi, type ApiHarness } from "./api-harness";

if (!sshdAvailable) console.warn(`skipping the working-copy preview walk: ${sshdMissingMessage}`);
const itSsh = sshdAvailable ? it : it.skip;

const KEY_ENV = `DRYDOCK_TEST_WCP_KEY_${randomBytes(4).toString("hex").toUpperCase()}`;
let ssh: SshHosts;
let repos: GitRepos;
let api: ApiHarness;
let root: string;
let copies: string;

beforeAll(async () => {
  if (!sshdAvailable) return;
  ssh = await startSshHosts(1, "wcp");
  process.env[KEY_ENV] = ssh.clientKey;
  repos = await createGitRepos();
  await repos.create("site", { "index.html": "<h1>the site at main</h1>\n", "test.sh": "test -f feature.txt && echo 'tests passed'\n" });
  await repos.commit("site", "feature", { "feature.txt": "the change under test\n" });
  await git(path.join(repos.root, "site"), "checkout", "-q", "main");
  api = await startApi({}, { localHost: false });
  root = `/tmp/drydock-wcp-${ssh.hosts[0]!.port}`;
  const call = async (method: string, url: string, body?: unknown) => {
    const res = await api.call(method, url, body);
    if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${res.text}`);
    return res.body;
  };
  const hosts = await call("POST", "/v1/blueprints", { name: "build-hosts", kind: "static-hosts", config: { hosts: [hostEntry(ssh, ssh.hosts[0]!, KEY_ENV)], root } });
  copies = (await call("POST", "/v1/blueprints", { name: "checkouts", kind: "working-copy", config: { hostBlueprintIds: [hosts.id], fileRepositoryRoots: [repos.root] } })).id;
  // The copies lease hosts as their blueprint: an admin approves that once.
  const asked = await call("POST", `/v1/blueprints/${hosts.id}/authorizations`, { client: `blueprint:${copies}` });
  if (asked.state !== "approved") await call("POST", `/v1/authorizations/${asked.id}/approve`);
}, 60_000);

afterAll(async () => {
  await api?.close();
  await ssh?.close();
  await repos?.close();
  if (root) await rm(root, { recursive: true, force: true });
  delete process.env[KEY_ENV];
});

itSsh("leases a checkout with a merge on an SSH host, runs its tests, serves its output through the proxy, and releases it", async () => {
  const leased = await api.call("POST", "/v1/leases?wait=90", { resourceType: "working-copy", attributes: { repositoryURL: repos.fileUrl("site"), ref: "main", merges: ["feature"] } });
  expect(leased.status, leased.text).toBe(201);
  const id = leased.body.id as string;

  // Its tests run in the checkout, with the merge on top.
  const tested = await api.call("POST", `/v1/leases/${id}/commands`, { argv: ["sh", "test.sh"] });
  expect(tested.status).toBe(200);
  expect(tested.body).toMatchObject({ exitCode: 0, stdout: "tests passed\n" });
  const built = await api.call("POST", `/v1/leases/${id}/commands`, { argv: ["sh", "-c", "mkdir -p out && cp index.html out/ && cat feature.txt >> out/index.html"] });
  expect(built.body.exitCode, built.body.stderr).toBe(0);

  // Its output, served from the checkout and read through Drydock: no port opened on the host.
  const port = await freePort();
  const started = await api.call("POST", `/v1/leases/${id}/httpd`, { argv: ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", "out"], port });
  expect(started.status, started.text).toBe(201);
  const page = await waitUntil("the page through the proxy", async () => {
    const res = await api.app.request(`/v1/leases/${id}/http/index.html`, { headers: { authorization: `Bearer ${api.adminToken}` } });
    return res.status === 200 ? res.text() : undefined;
  }, 20_000, { seen: async () => (await api.call("GET", `/v1/leases/${id}/httpd`)).text });
  expect(page).toBe("<h1>the site at main</h1>\nthe change under test\n");

  // Released: the lease ends, the server with it, and the copy stays for the next lease.
  expect((await api.call("POST", `/v1/leases/${id}/release`)).status).toBe(200);
  const ended = await api.pollLease(id, (l) => l.status === "destroyed", 30_000);
  const after = await api.app.request(`/v1/leases/${id}/http/index.html`, { headers: { authorization: `Bearer ${api.adminToken}` } });
  expect(after.status).not.toBe(200);
  const server = await fetch(`http://127.0.0.1:${port}/index.html`).then((r) => r.status, () => "refused");
  expect(server).toBe("refused");
  expect((await api.call("GET", `/v1/resources/${ended.resourceId}`)).body.status).toBe("active");

  const report = await verifyStoredLog(api.drydock.store, { now: new Date(), graceMs: 60_000 });
  expect(report.violations).toEqual([]);
}, 180_000);
