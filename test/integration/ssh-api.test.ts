import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiHarness } from "../e2e/api-harness";
import { readWholeLog } from "../support/read-log";
import { hostEntry } from "../support/ssh-pool";
import { sshdAvailable, sshdMissingMessage, startSshHosts, type SshHost, type SshHosts } from "../support/sshd";

/**
 * The "done when", over the HTTP API as an operator and a client use it: a pool of two
 * sshd hosts created with POST /v1/blueprints, a `host` lease that runs `uname -a` over SSH,
 * writes and reads a file over SFTP and is released, and a history that shows the host. Also
 * the streamed command output and the config checks.
 */
if (!sshdAvailable) console.warn(`skipping the static-hosts API tests: ${sshdMissingMessage}`);
const describeSsh = sshdAvailable ? describe : describe.skip;

const KEY_ENV = `DRYDOCK_TEST_API_KEY_${randomBytes(4).toString("hex").toUpperCase()}`;
let ssh: SshHosts;
let api: ApiHarness;
let blueprintId: string;
let config: Record<string, unknown>;

beforeAll(async () => {
  if (!sshdAvailable) return;
  ssh = await startSshHosts(2, "api");
  process.env[KEY_ENV] = ssh.clientKey;
  api = await startApi();
  config = { hosts: ssh.hosts.map((h) => hostEntry(ssh, h, KEY_ENV, { attributes: { os: "linux", labels: ["ssh"] } })), root: `/tmp/drydock-ssh-api-${ssh.hosts[0]!.port}` };
  const created = await api.call("POST", "/v1/blueprints", { name: "ssh-pool", kind: "static-hosts", config });
  if (created.status !== 201) throw new Error(`cannot create the pool: ${created.status} ${created.text}`);
  blueprintId = created.body.id;
});

afterAll(async () => {
  await api?.close();
  await ssh?.close();
  // The hosts are this machine: remove what the leases' resources left under the pool's root.
  if (config) await rm(config.root as string, { recursive: true, force: true });
  delete process.env[KEY_ENV];
});

async function activeLease(attributes: Record<string, unknown> = {}): Promise<any> {
  const res = await api.call("POST", "/v1/leases?wait=30", { resourceType: "host", attributes, blueprintIds: [blueprintId] });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

describeSsh("a pool of SSH hosts over the API", () => {
  it("keeps only the key's reference in the blueprint and the log", async () => {
    const got = await api.call("GET", `/v1/blueprints/${blueprintId}`);
    expect(got.body.config.hosts[0]).toMatchObject({ privateKey: { env: KEY_ENV }, port: ssh.hosts[0]!.port, slots: 4, drained: false });
    expect(got.body.resourceLimit).toBeNull();
    const keyLine = ssh.clientKey.split("\n")[1]!;
    expect(got.text).not.toContain(keyLine);
    expect(JSON.stringify(await readWholeLog(api.drydock.store))).not.toContain(keyLine);
  });

  it("refuses a config with a key pasted in, duplicate names, or a fingerprint not in ssh-keygen's form", async () => {
    const host = (config.hosts as Record<string, unknown>[])[0]!;
    const bad = async (hosts: unknown[]) => (await api.call("POST", "/v1/blueprints", { name: `bad-${randomBytes(3).toString("hex")}`, kind: "static-hosts", config: { hosts } })).body;
    expect((await bad([{ ...host, privateKey: ssh.clientKey }])).error.message).toMatch(/^config\.hosts\.0\.privateKey/);
    expect((await bad([host, host])).error.message).toContain('config.hosts.1.name: duplicate host name "api-a"');
    expect((await bad([{ ...host, hostKeyFingerprint: "MD5:aa:bb" }])).error.message).toMatch(/^config\.hosts\.0\.hostKeyFingerprint/);
  });

  it("leases a host, runs uname -a over SSH, writes and reads a file over SFTP, releases; the history shows the host", async () => {
    const lease = await activeLease({ os: "linux" });
    const uname = await api.call("POST", `/v1/leases/${lease.id}/commands`, { argv: ["uname", "-a"] });
    expect(uname.status).toBe(200);
    expect(uname.body).toMatchObject({ exitCode: 0, signal: null, timedOut: false });
    expect(uname.body.stdout).toMatch(/^Linux /);

    const bytes = new Uint8Array(256).map((_, i) => 255 - i);
    expect((await api.call("PUT", `/v1/leases/${lease.id}/files/build/out.bin`, bytes, { "content-type": "application/octet-stream" })).status).toBe(204);
    const read = await api.app.request(`/v1/leases/${lease.id}/files/build/out.bin`);
    expect(read.status).toBe(200);
    expect(Buffer.from(await read.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
    const listed = await api.call("GET", `/v1/leases/${lease.id}/files/build?list=1`);
    expect(listed.body.items).toMatchObject([{ name: "out.bin", type: "file", size: 256 }]);
    const escape = await api.call("GET", `/v1/leases/${lease.id}/files/..%2F..%2Fetc%2Fpasswd`);
    expect(escape.status).toBe(400);
    expect(escape.body.error.code).toBe("path_outside_lease");

    expect((await api.call("POST", `/v1/leases/${lease.id}/release`, {})).status).toBeLessThan(300);
    await api.pollLease(lease.id, (l) => l.status === "destroyed", 20_000);

    const events = (await api.call("GET", `/v1/leases/${lease.id}/events`)).body.items as { type: string; data: any }[];
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["LeaseRequested", "LeaseAcquired", "LeaseActivated", "LeaseReleased", "LeaseDestroyed"]));
    const acquired = events.find((e) => e.type === "LeaseAcquired")!;
    const resource = (await api.call("GET", `/v1/resources/${acquired.data.resourceId}`)).body;
    expect(ssh.hosts.map((h) => h.name)).toContain(resource.attributes.host);
    expect(resource.attributes).toMatchObject({ address: "127.0.0.1", os: "linux", labels: ["ssh"] });
    const dir = events.find((e) => e.type === "LeaseActivated")!.data.workingDirectory as string;
    expect(dir).toBe(`${config.root}/${acquired.data.resourceId}/leases/${lease.id}`);
    // The lease's directory on the host went with it.
    expect(existsSync(dir)).toBe(false);
    expect(events.find((e) => e.type === "LeaseDestroyed")!.data.cleanupError).toBeNull();
  });

  it("streams a command's output as ndjson lines, then its exit; a refused command still gets its error status", async () => {
    const lease = await activeLease();
    const res = await api.call("POST", `/v1/leases/${lease.id}/commands?stream=1`, { argv: ["sh", "-c", "echo one; sleep 0.3; echo two >&2; exit 3"] });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/x-ndjson");
    const lines = res.text.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.slice(0, 2)).toEqual([
      { stream: "stdout", data: "one\n" },
      { stream: "stderr", data: "two\n" },
    ]);
    expect(lines[2].exit).toMatchObject({ exitCode: 3, signal: null, timedOut: false, stdoutBytes: 4, stderrBytes: 4, stdoutTruncated: false });
    expect(lines[2].exit).not.toHaveProperty("stdout");
    expect(lines).toHaveLength(3);

    const outside = await api.call("POST", `/v1/leases/${lease.id}/commands?stream=1`, { argv: ["ls"], cwd: "../.." });
    expect(outside.status).toBe(400);
    expect(outside.body.error.code).toBe("path_outside_lease");
    expect((await api.call("POST", `/v1/leases/${lease.id}/release`, {})).status).toBeLessThan(300);
  });

  it("streams on the local host too (both adapters support it)", async () => {
    const local = await api.call("POST", "/v1/leases?wait=30", { resourceType: "host", blueprintIds: [await api.localHostBlueprintId()] });
    expect(local.status).toBe(201);
    const res = await api.call("POST", `/v1/leases/${local.body.id}/commands?stream=1`, { argv: ["sh", "-c", "printf abc; exit 4"] });
    const lines = res.text.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines[0]).toEqual({ stream: "stdout", data: "abc" });
    expect(lines.at(-1).exit).toMatchObject({ exitCode: 4 });
  });

  it("drains a host with PATCH: a lease that needs it waits, others land on the other host", async () => {
    const [a, b] = ssh.hosts as [SshHost, SshHost];
    const hosts = (config.hosts as Record<string, unknown>[]).map((h) => (h.name === a.name ? { ...h, drained: true } : h));
    const patched = await api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config: { ...config, hosts } });
    expect(patched.status).toBe(200);
    expect(patched.body.config.hosts[0].drained).toBe(true);
    const pinned = await api.call("POST", "/v1/leases?wait=1", { resourceType: "host", attributes: { host: a.name }, blueprintIds: [blueprintId] });
    expect(pinned.status).toBe(202);
    expect(pinned.body.waitReason).toContain(`${a.name} is drained`);
    const other = await activeLease();
    const acquired = ((await api.call("GET", `/v1/leases/${other.id}/events`)).body.items as { type: string; data: any }[]).find((e) => e.type === "LeaseAcquired")!;
    expect((await api.call("GET", `/v1/resources/${acquired.data.resourceId}`)).body.attributes.host).toBe(b.name);
    for (const id of [pinned.body.id, other.id]) expect((await api.call("POST", `/v1/leases/${id}/release`, {})).status).toBeLessThan(300);
  });
});
