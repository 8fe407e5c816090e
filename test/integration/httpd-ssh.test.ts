/**
 * Issue #12, httpd on an SSH host: a static-hosts lease on a real OpenSSH sshd serves a page
 * from a directory of the lease (python3 -m http.server, bound to 127.0.0.1 only), read through
 * /v1/leases/{id}/http/… over the lease's own SSH connection (forwardOut); restarted, stopped,
 * killed by the lease's release; another client refused; a clear 503 when nothing listens.
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiClient, type ApiHarness } from "../e2e/api-harness";
import { killArgv, pidsWithArgv, waitForArgv, waitForNoArgv } from "../support/argv-pids";
import { hostEntry } from "../support/ssh-pool";
import { sshdAvailable, sshdMissingMessage, startSshHosts, type SshHosts } from "../support/sshd";
import { freePort } from "../support/free-port";

if (!sshdAvailable) console.warn(`skipping the httpd SSH tests: ${sshdMissingMessage}`);
const describeSsh = sshdAvailable ? describe : describe.skip;

const KEY_ENV = `DRYDOCK_TEST_HTTPD_KEY_${randomBytes(4).toString("hex").toUpperCase()}`;
let ssh: SshHosts;
let api: ApiHarness;
let bob: ApiClient;
let blueprintId: string;
let root: string;
const started: string[][] = [];
const taken: string[] = [];

beforeAll(async () => {
  if (!sshdAvailable) return;
  ssh = await startSshHosts(1, "httpd");
  process.env[KEY_ENV] = ssh.clientKey;
  api = await startApi();
  root = `/tmp/drydock-httpd-ssh-${ssh.hosts[0]!.port}`;
  const created = await api.call("POST", "/v1/blueprints", { name: "httpd-pool", kind: "static-hosts", config: { hosts: [hostEntry(ssh, ssh.hosts[0]!, KEY_ENV)], root } });
  if (created.status !== 201) throw new Error(`cannot create the pool: ${created.status} ${created.text}`);
  blueprintId = created.body.id;
  bob = await api.client("bob", { blueprintIds: [blueprintId] });
});

afterEach(async () => {
  for (const id of taken.splice(0)) await api.call("POST", `/v1/leases/${id}/release`, {});
});

afterAll(async () => {
  await api?.close();
  await ssh?.close();
  for (const argv of started) await killArgv(argv);
  if (root) await rm(root, { recursive: true, force: true });
  delete process.env[KEY_ENV];
});

async function sshLease(): Promise<string> {
  const res = await api.call("POST", "/v1/leases?wait=30", { resourceType: "host", blueprintIds: [blueprintId] });
  expect(res.status, res.text).toBe(201);
  taken.push(res.body.id);
  return res.body.id;
}

const proxied = (leaseId: string, path: string, token = api.adminToken) => api.app.request(`/v1/leases/${leaseId}/http${path}`, { headers: { authorization: `Bearer ${token}` } });

async function waitForPage(leaseId: string, path: string): Promise<Response> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await proxied(leaseId, path);
    if (res.status === 200) return res;
    const text = await res.text();
    if (Date.now() > deadline) {
      const status = await api.call("GET", `/v1/leases/${leaseId}/httpd`);
      throw new Error(`the page never came through the proxy: ${res.status} ${text}; the server: ${status.text}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describeSsh("httpd on a static SSH host", () => {
  it("serves a page from the lease's directory through the lease's SSH connection; restart, stop, and release end it", async () => {
    const id = await sshLease();
    const page = `<h1>preview ${randomBytes(4).toString("hex")}</h1>\n`;
    expect((await api.call("PUT", `/v1/leases/${id}/files/site/index.html`, page, { "content-type": "application/octet-stream" })).status).toBe(204);
    const port = await freePort();
    // Bound to 127.0.0.1 only: nothing is reachable from the network, and the page still comes through.
    const argv = ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1"];
    started.push(argv);

    const start = await api.call("POST", `/v1/leases/${id}/httpd`, { argv, port, cwd: "site" });
    expect(start.status, start.text).toBe(201);
    expect(start.body).toMatchObject({ state: "running", program: "python3", port });
    const res = await waitForPage(id, "/index.html");
    expect(await res.text()).toBe(page);
    expect(res.headers.get("content-type")).toBe("text/html");
    expect(res.headers.get("content-security-policy")).toMatch(/^sandbox /);
    expect((await proxied(id, "/missing.html")).status).toBe(404);
    const [firstPid] = await waitForArgv(argv);

    // Another client's token: the same 404 as for no such lease.
    const refused = await proxied(id, "/index.html", bob.token);
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as any).error.message).toBe(`lease ${id} not found`);

    const restarted = await api.call("POST", `/v1/leases/${id}/httpd/restart`);
    expect(restarted.status, restarted.text).toBe(200);
    expect(await (await waitForPage(id, "/")).text()).toBe(page); // the directory's index
    const [secondPid] = await waitForArgv(argv);
    expect(secondPid).not.toBe(firstPid);
    expect(await pidsWithArgv(argv)).toEqual([secondPid]);

    expect((await api.call("DELETE", `/v1/leases/${id}/httpd`)).body.state).toBe("stopped");
    await waitForNoArgv(argv);
    const stopped = await proxied(id, "/index.html");
    expect(stopped.status).toBe(503);
    expect(((await stopped.json()) as any).error.code).toBe("interface_unavailable");

    // Running again when the lease is released: its teardown kills it on the host.
    expect((await api.call("POST", `/v1/leases/${id}/httpd/restart`, {})).status).toBe(200);
    await waitForPage(id, "/index.html");
    expect((await api.call("POST", `/v1/leases/${id}/release`, {})).status).toBe(200);
    await api.pollLease(id, (l) => l.status === "destroyed", 20_000);
    await waitForNoArgv(argv);
    expect((await proxied(id, "/index.html")).status).toBe(409);
  });

  it("nothing listening on the port of the host: a 503 that says so, over SSH too", async () => {
    const id = await sshLease();
    const port = await freePort();
    const sleeper = ["sleep", `98.${Math.floor(Math.random() * 1e9)}`];
    started.push(sleeper);
    expect((await api.call("POST", `/v1/leases/${id}/httpd`, { argv: sleeper, port })).status).toBe(201);
    await waitForArgv(sleeper);
    const res = await proxied(id, "/");
    expect(res.status).toBe(503);
    const body = (await res.json()) as any;
    expect(body.error).toMatchObject({ code: "interface_unavailable", details: { port, reason: "unreachable" } });
    expect(body.error.message).toMatch(new RegExp(`^nothing answers on port ${port} of host httpd-a: .*refused`, "i"));
    // The lease's commands still work on the same connection.
    expect((await api.call("POST", `/v1/leases/${id}/commands`, { argv: ["echo", "still here"] })).body.stdout).toBe("still here\n");
  });
});
