import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { startApi, type ApiHarness } from "../e2e/api-harness";
import { emulatorHostConfig } from "../support/ec2-emulator/blueprint-config";
import { startEc2Emulator, type Ec2Emulator } from "../support/ec2-emulator/emulator";
import { createGitRepos, git, type GitRepos } from "../support/git-repos";
import { sshdAvailable, sshdMissingMessage } from "../support/sshd";
import { waitUntil } from "../support/wait-until";

/**
 * Working copies on EC2 hosts (issue #12: "a working copy leases a host from any host blueprint"),
 * over HTTP, against the wire-level EC2 emulator driven by the real SDK (every instance a real
 * sshd). A copy at a commit with a merge on top is cloned on an instance and used; then the
 * instance dies under an active lease, the copy breaks with its host, and the lease goes back to
 * pending and lands on a fresh copy on a new instance, at the same commit. The log verifies.
 */
if (!sshdAvailable) console.warn(`skipping the working-copy EC2 tests: ${sshdMissingMessage}`);
const describeSsh = sshdAvailable ? describe : describe.skip;

const KEY_ENV = `DRYDOCK_TEST_WCE_KEY_${randomBytes(4).toString("hex").toUpperCase()}`;
const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
let emulator: Ec2Emulator;
let api: ApiHarness;
let repos: GitRepos;
let hosts: string;
let copies: string;
// The instances are sshd processes on this machine: their root is a directory here.
const root = `/tmp/drydock-wce-${process.pid}`;
const shas: Record<string, string> = {};

async function call(method: string, url: string, body?: unknown) {
  const res = await api.call(method, url, body);
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${res.text}`);
  return res.body;
}

beforeAll(async () => {
  if (!sshdAvailable) return;
  repos = await createGitRepos();
  await repos.create("app", { "README.md": "app\n", "test.sh": "test -f feature.txt && echo 'tests passed'\n" });
  shas.main = await git(path.join(repos.root, "app"), "rev-parse", "HEAD");
  await repos.commit("app", "feature", { "feature.txt": "the change under test\n" });
  await git(path.join(repos.root, "app"), "checkout", "-q", "main");
  emulator = await startEc2Emulator({ bootDelayMs: 0 });
  process.env[KEY_ENV] = emulator.keyPair.privateKey;
  process.env.AWS_ACCESS_KEY_ID = "AKIDDRYDOCKTEST";
  process.env.AWS_SECRET_ACCESS_KEY = `emulator-secret-${randomBytes(8).toString("hex")}`;
  api = await startApi({}, { localHost: false, ec2: { maxAttempts: 1 }, workerOptions: { failureRetryMs: 300 }, healthOptions: { maxIdleMs: 300 } });
  hosts = (
    await call("POST", "/v1/blueprints", {
      name: "ec2-builders",
      kind: "ec2-host",
      config: emulatorHostConfig(emulator, KEY_ENV, root, { slots: 4, maxInstances: 2, healthIntervalSeconds: 1, healthFailuresBeforeBroken: 1 }),
    })
  ).id;
  copies = (await call("POST", "/v1/blueprints", { name: "ec2-checkouts", kind: "working-copy", config: { hostBlueprintIds: [hosts], fileRepositoryRoots: [repos.root] } })).id;
  const asked = await call("POST", `/v1/blueprints/${hosts}/authorizations`, { client: `blueprint:${copies}` });
  if (asked.state !== "approved") await call("POST", `/v1/authorizations/${asked.id}/approve`);
}, 90_000);

afterAll(async () => {
  await api?.close();
  await emulator?.close();
  await repos?.close();
  await rm(root, { recursive: true, force: true });
  delete process.env[KEY_ENV];
  for (const [name, value] of [["AWS_ACCESS_KEY_ID", saved.id], ["AWS_SECRET_ACCESS_KEY", saved.secret]] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/** The EC2 instance a working copy sits on: the copy's host lease, its host resource, that resource's instance. */
async function instanceUnder(copyId: string): Promise<string> {
  const row = await api.drydock.database.db.selectFrom("leases").select("resource_id").where("owner_resource_id", "=", copyId).executeTakeFirstOrThrow();
  const host = await call("GET", `/v1/resources/${row.resource_id}`);
  return String(host.attributes.instanceId);
}

async function run(leaseId: string, argv: string[]) {
  const res = await api.call("POST", `/v1/leases/${leaseId}/commands`, { argv });
  expect(res.status, res.text).toBe(200);
  expect(res.body.exitCode, res.body.stderr).toBe(0);
  return res.body.stdout as string;
}

describeSsh("working copies on EC2 hosts", { timeout: 180_000 }, () => {
  it("clones a commit with a merge on an instance; when the instance dies, the active lease lands on a new copy on a new instance", async () => {
    const leased = await api.call("POST", "/v1/leases?wait=90", { resourceType: "working-copy", attributes: { repositoryURL: repos.fileUrl("app"), ref: "main", merges: ["feature"] } });
    expect(leased.status, leased.text).toBe(201);
    const id = leased.body.id as string;
    const firstCopy = leased.body.resourceId as string;
    expect(await run(id, ["sh", "test.sh"])).toBe("tests passed\n");
    expect(await run(id, ["git", "rev-parse", "HEAD^1"])).toBe(`${shas.main}\n`);
    const firstInstance = await instanceUnder(firstCopy);
    expect(emulator.liveInstances().map((i) => i.instanceId)).toContain(firstInstance);

    // The instance dies under the lease (EC2 terminates it, its sshd with it).
    emulator.killInstance(firstInstance);
    const relanded = await api.pollLease(id, (l) => ["broken", "released", "destroyed"].includes(l.status) || (l.status === "active" && l.resourceId !== firstCopy), 90_000);
    expect(relanded.status, relanded.endReason ?? "").toBe("active");
    const secondInstance = await instanceUnder(relanded.resourceId);
    expect(secondInstance).not.toBe(firstInstance);
    expect(await run(id, ["sh", "test.sh"])).toBe("tests passed\n");
    expect(await run(id, ["git", "rev-parse", "HEAD^1"])).toBe(`${shas.main}\n`);

    const { items } = (await call("GET", `/v1/leases/${id}/events`)) as { items: { type: string; data: { resourceId?: string; reason?: string } }[] };
    const back = items.find((e) => e.type === "LeaseReacquiring");
    expect(back?.data.resourceId).toBe(firstCopy);
    expect(back?.data.reason).toMatch(new RegExp(`^resource ${firstCopy} broken: its lease ls_\\w+ ended: resource-ended: resource rs_\\w+ broken: .*${firstInstance}`));
    const explained = await call("GET", `/v1/leases/${id}/explain`);
    expect(explained.summary).toContain(`moved off ${firstCopy}`);

    expect((await api.call("POST", `/v1/leases/${id}/release`)).status).toBe(200);
    await api.pollLease(id, (l) => l.status === "destroyed", 30_000);
    // Released on purpose: the second copy goes, then its host (the dead one's resources are gone already).
    const resourceStatus = async (resourceId: string) => (await call("GET", `/v1/resources/${resourceId}`)).status as string;
    await call("POST", `/v1/resources/${relanded.resourceId}/release`);
    for (const copy of [relanded.resourceId, firstCopy]) {
      await waitUntil(`copy ${copy} to be destroyed`, async () => ((await resourceStatus(copy)) === "destroyed" ? true : undefined), 60_000, { seen: () => resourceStatus(copy) });
    }
    const liveHosts = await api.drydock.database.db.selectFrom("resources").select("resource_id").where("blueprint_id", "=", hosts).where("status", "=", "active").execute();
    for (const h of liveHosts) await call("POST", `/v1/resources/${h.resource_id}/release`);
    await waitUntil("every instance to be terminated", () => (emulator.liveInstances().length === 0 ? true : undefined), 60_000, {
      seen: () => emulator.liveInstances().map((i) => `${i.instanceId} ${i.state}`).join(", "),
    });
    const report = await verifyStoredLog(api.drydock.store, { now: new Date(), graceMs: 60_000 });
    expect(report.violations).toEqual([]);
  });
});
