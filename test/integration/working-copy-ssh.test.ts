import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approveAuthorization, requestAuthorization } from "../../src/auth/authorization-commands";
import { TemporaryFailure } from "../../src/blueprints/failures";
import { createBlueprint, updateBlueprint } from "../../src/commands/blueprint-commands";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { releaseResource } from "../../src/commands/resource-commands";
import { verifyLog } from "../../src/history/verify-log";
import { getLease } from "../../src/queries/lease-queries";
import { getResource } from "../../src/queries/resource-queries";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { createGitRepos, git, type GitRepos } from "../support/git-repos";
import { readWholeLog } from "../support/read-log";
import { hostEntry } from "../support/ssh-pool";
import { sshdAvailable, sshdMissingMessage, startSshHosts, type SshHosts } from "../support/sshd";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";
import { waitUntil, watchUntil } from "../support/wait-until";

/**
 * Working copies on static SSH hosts (real sshd on loopback): git runs over the host lease's SSH
 * command interface. And the stack: releasing a copy releases its host lease; a host that dies
 * breaks the copies on it, their leases (active or still activating) go back to pending and land
 * on a copy on another host, and the log verifies afterwards.
 */
if (!sshdAvailable) console.warn(`skipping the working-copy SSH tests: ${sshdMissingMessage}`);
const describeSsh = sshdAvailable ? describe : describe.skip;

const run_ = promisify(execFile);
const KEY_ENV = `DRYDOCK_TEST_WC_SSH_KEY_${randomBytes(4).toString("hex").toUpperCase()}`;
const actor = { actor: "wc-ssh-test" };
let database: TestDatabase;
let drydock: Drydock;
let ssh: SshHosts;
let repos: GitRepos;
let hostsBlueprint: string;
let copies: string;
const shas: Record<string, string> = {};
const unexpected: unknown[] = [];

const rootOf = () => `/tmp/drydock-wc-ssh-test-${ssh.hosts[0]!.port}`;
const poolConfig = (hostNames: string[]) => ({
  hosts: ssh.hosts.filter((h) => hostNames.includes(h.name)).map((h) => hostEntry(ssh, h, KEY_ENV, { slots: 4 })),
  root: rootOf(),
  healthIntervalSeconds: 1,
  healthFailuresBeforeBroken: 2,
  connectTimeoutSeconds: 3,
});

beforeAll(async () => {
  if (!sshdAvailable) return;
  database = await createTestDatabase();
  repos = await createGitRepos();
  await repos.create("app", { "README.md": "app\n" });
  await repos.create("lib", { "lib.txt": "lib\n" });
  shas.app = await git(path.join(repos.root, "app"), "rev-parse", "HEAD");
  shas.lib = await git(path.join(repos.root, "lib"), "rev-parse", "HEAD");
  ssh = await startSshHosts(2, "wc");
  process.env[KEY_ENV] = ssh.clientKey;
  drydock = await createDrydock({
    database,
    localHost: false,
    healthOptions: { maxIdleMs: 200 },
    workerOptions: { failureRetryMs: 500 },
    onWorkerError: (error) => {
      // A dead host's teardown waits for the host to answer: expected while it is down.
      if (error instanceof TemporaryFailure && error.code === "host_unreachable") return;
      unexpected.push(error);
    },
  });
  // Only the first host at first: every copy lands there.
  hostsBlueprint = await createBlueprint(drydock.commands, { name: "build-hosts", kind: "static-hosts", config: poolConfig(["wc-a"]) }, actor);
  copies = await createBlueprint(drydock.commands, { name: "copies", kind: "working-copy", config: { hostBlueprintIds: [hostsBlueprint], fileRepositoryRoots: [repos.root] } }, actor);
  const { authorizationId } = await requestAuthorization(drydock.commands, hostsBlueprint, `blueprint:${copies}`, actor);
  await approveAuthorization(drydock.commands, authorizationId, actor);
});

afterAll(async () => {
  await drydock?.close();
  await database?.close();
  await ssh?.close();
  if (ssh) await rm(rootOf(), { recursive: true, force: true });
  await repos?.close();
  delete process.env[KEY_ENV];
});

const lease = (repo: string) => requestLease(drydock.commands, { resourceType: "working-copy", attributes: { repositoryURL: repos.fileUrl(repo), ref: "main" } }, "ci", actor);

async function run(leaseId: string, argv: string[]) {
  const { command } = await drydock.interfaces.forLease(leaseId);
  const result = await command.exec(argv, { timeoutMs: 30_000 });
  expect(result.exitCode, `${argv.join(" ")}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

/** The host lease a copy holds, and the host (by name) its resource is. */
async function hostLeaseOf(copyId: string) {
  const row = await drydock.database.db.selectFrom("leases").select("lease_id").where("owner_resource_id", "=", copyId).executeTakeFirstOrThrow();
  const hostLease = await getLease(drydock.database.db, row.lease_id);
  const host = hostLease.resourceId ? await getResource(drydock.database.db, hostLease.resourceId) : null;
  return { hostLease, hostName: host ? String(host.attributes.host) : null };
}

const destroyed = (resourceId: string) =>
  watchUntil(drydock, `resource-${resourceId}`, `resource ${resourceId} to be destroyed`, async () => (await getResource(drydock.database.db, resourceId)).status === "destroyed", 60_000, {
    seen: async () => (await getResource(drydock.database.db, resourceId)).status,
  });

/** Pids of this machine's processes whose environment holds exactly `entry` (the SSH hosts are this machine). */
async function pidsWithEntry(entry: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const environ = await readFile(`/proc/${name}/environ`).catch(() => null);
    if (environ && environ.toString("utf8").split("\0").includes(entry)) pids.push(Number(name));
  }
  return pids;
}

// Real clones on two shared cores: a case may take longer than the default minute.
describeSsh("working copies on SSH hosts", { timeout: 180_000 }, () => {
  it("builds a copy over SSH; releasing the copy releases its host lease", async () => {
    const id = await lease("app");
    const active = await waitForLeaseStatus(drydock, id, ["active"], 60_000);
    expect(await run(id, ["git", "rev-parse", "HEAD"])).toBe(`${shas.app}\n`);
    expect(await run(id, ["pwd"])).toMatch(new RegExp(`^${rootOf()}/rs_\\w+/leases/ls_\\w+/repo\\n$`));
    const { hostLease, hostName } = await hostLeaseOf(active.resourceId!);
    expect(hostName).toBe("wc-a");
    expect(hostLease.owner).toBe(`resource:${active.resourceId}`);

    await releaseResource(drydock.commands, active.resourceId!, "done with it", actor);
    const ended = await waitForLeaseStatus(drydock, id, ["destroyed"], 30_000);
    expect(ended.endReason).toMatch(/resource-ended/);
    const hostEnded = await waitForLeaseStatus(drydock, hostLease.id, ["destroyed"], 30_000);
    expect(hostEnded.endReason).toMatch(/^owner-ended/);
    await destroyed(active.resourceId!);
  });

  it("a host that dies breaks its copies: an active lease and an activating one both land on another host; the log verifies", async () => {
    // An idle copy of app, and a copy of lib in use, both on wc-a.
    const first = await lease("app");
    const idle = await waitForLeaseStatus(drydock, first, ["active"], 60_000);
    await releaseLease(drydock.commands, first, actor);
    await waitForLeaseStatus(drydock, first, ["destroyed"]);
    const busy = await lease("lib");
    const inUse = await waitForLeaseStatus(drydock, busy, ["active"], 60_000);
    for (const copy of [idle.resourceId!, inUse.resourceId!]) expect((await hostLeaseOf(copy)).hostName).toBe("wc-a");

    // wc-a goes down; the pool gets wc-b.
    const dead = ssh.hosts.find((h) => h.name === "wc-a")!;
    await dead.stop();
    await updateBlueprint(drydock.commands, hostsBlueprint, { config: poolConfig(["wc-a", "wc-b"]) }, actor);

    // A new lease of app takes the idle copy on wc-a, cannot activate there, and goes back to
    // pending when the host's death breaks the copy; it lands on a new copy, on wc-b.
    const moved = await lease("app");
    const landed = await waitForLeaseStatus(drydock, moved, ["active", "broken", "released", "destroyed"], 90_000);
    expect(landed.status, landed.endReason ?? "").toBe("active");
    const history = await drydock.store.readStream(`lease-${moved}`);
    const events = history.map((e) => e.type);
    // Back to pending because the copy broke, because its host lease ended, because the host did.
    const reacquiring = history.find((e) => e.type === "LeaseReacquiring");
    expect((reacquiring?.data as { reason: string } | undefined)?.reason).toMatch(
      new RegExp(`^resource ${idle.resourceId} broken: its lease ls_\\w+ ended: resource-ended: resource rs_\\w+ broken: .*wc-a`),
    );
    expect(events.filter((e) => e === "LeaseAcquired").length).toBeGreaterThanOrEqual(2);
    expect(landed.resourceId).not.toBe(idle.resourceId);
    expect((await hostLeaseOf(landed.resourceId!)).hostName).toBe("wc-b");
    expect(await run(moved, ["git", "rev-parse", "HEAD"])).toBe(`${shas.app}\n`);

    // The lease that was in use on wc-a went back to pending too, and is active on a fresh copy
    // of lib at the same commit on wc-b: same lease id, same TTL, its working directory is new.
    const relanded = await waitForLeaseStatus(drydock, busy, ["active", "broken", "released", "destroyed"], 90_000);
    expect(relanded.status, relanded.endReason ?? "").toBe("active");
    expect(relanded.resourceId).not.toBe(inUse.resourceId);
    expect((await hostLeaseOf(relanded.resourceId!)).hostName).toBe("wc-b");
    expect(relanded.expiresAt).toBe(inUse.expiresAt);
    expect(await run(busy, ["git", "rev-parse", "HEAD"])).toBe(`${shas.lib}\n`);
    const busyHistory = await drydock.store.readStream(`lease-${busy}`);
    expect(busyHistory.map((e) => e.type).filter((t) => t === "LeaseActivated")).toHaveLength(2);
    const back = busyHistory.find((e) => e.type === "LeaseReacquiring")!;
    expect(busyHistory[busyHistory.indexOf(back) - 1]!.type).toBe("LeaseActivated");
    expect((back.data as { resourceId: string; reason: string }).resourceId).toBe(inUse.resourceId);
    expect((back.data as { reason: string }).reason).toMatch(new RegExp(`^resource ${inUse.resourceId} broken: its lease ls_\\w+ ended: resource-ended: .*wc-a`));
    await releaseLease(drydock.commands, busy, actor);
    await waitForLeaseStatus(drydock, busy, ["destroyed"]);

    // Both copies on wc-a are broken and gone.
    for (const copy of [idle.resourceId!, inUse.resourceId!]) {
      await destroyed(copy);
      const events = (await drydock.store.readStream(`resource-${copy}`)).map((e) => e.type);
      expect(events).toContain("ResourceBroken");
    }

    // The host comes back, so its resource's teardown can finish; everything ends.
    await dead.start();
    await releaseLease(drydock.commands, moved, actor);
    await waitForLeaseStatus(drydock, moved, ["destroyed"]);
    const hostResources = await drydock.database.db.selectFrom("resources").select(["resource_id", "status", "attributes"]).where("blueprint_id", "=", hostsBlueprint).execute();
    const deadHost = hostResources.find((r) => (r.attributes as { host: string }).host === "wc-a" && r.status !== "destroyed");
    if (deadHost) await destroyed(deadHost.resource_id);

    const report = verifyLog(await readWholeLog(drydock.store));
    expect(report.violations).toEqual([]);
    expect(unexpected).toEqual([]);
  });

  it("ends the processes a lease left before the next lease's tree is cleaned", async () => {
    const first = await lease("app");
    const before = await waitForLeaseStatus(drydock, first, ["active"], 60_000);
    // A daemon that keeps writing into the checkout, out of the command's session.
    await run(first, ["sh", "-c", "setsid sh -c 'while :; do date > left-behind.txt; sleep 0.1; done' </dev/null >/dev/null 2>&1 &"]);
    const entry = `DRYDOCK_WORKING_COPY_LEASE=${first}`;
    await waitUntil("the daemon to run", async () => (await pidsWithEntry(entry)).length > 0, 10_000);
    await releaseLease(drydock.commands, first, actor);

    const second = await lease("app");
    const after = await waitForLeaseStatus(drydock, second, ["active"], 60_000);
    expect(after.resourceId).toBe(before.resourceId);
    expect(await pidsWithEntry(entry)).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));
    expect(await run(second, ["git", "status", "--porcelain", "--ignored"])).toBe("");
    await waitForLeaseStatus(drydock, first, ["destroyed"]);
    await releaseLease(drydock.commands, second, actor);
    await waitForLeaseStatus(drydock, second, ["destroyed"]);
    expect(unexpected).toEqual([]);
  });

  it("fetches ssh:// repositories with a deploy key given to ssh-agent, the server's host key pinned", async () => {
    const server = ssh.hosts.find((h) => h.name === "wc-b")!;
    const { stdout: knownHosts } = await run_("ssh-keyscan", ["-p", String(server.port), "-t", "ed25519", "127.0.0.1"]);
    const prefix = `ssh://${ssh.user}@127.0.0.1:${server.port}/`;
    const withKey = await createBlueprint(
      drydock.commands,
      { name: "copies-over-ssh", kind: "working-copy", config: { hostBlueprintIds: [hostsBlueprint], credentials: [{ urlPrefix: prefix, deployKey: { env: KEY_ENV }, knownHosts }] } },
      actor,
    );
    const { authorizationId } = await requestAuthorization(drydock.commands, hostsBlueprint, `blueprint:${withKey}`, actor);
    await approveAuthorization(drydock.commands, authorizationId, actor);

    const url = `${prefix.replace(/\/$/, "")}${repos.root}/lib`;
    const id = await requestLease(drydock.commands, { resourceType: "working-copy", attributes: { repositoryURL: url, ref: "main" }, blueprintIds: [withKey] }, "ci", actor);
    const active = await waitForLeaseStatus(drydock, id, ["active", "broken", "destroyed"], 90_000);
    expect(active.status, active.endReason ?? "").toBe("active");
    expect(await run(id, ["git", "rev-parse", "HEAD"])).toBe(`${shas.lib}\n`);
    // No agent is left running, and the key is in no file of the copy's host lease.
    expect(await run(id, ["sh", "-c", "cd .. && grep -rl 'PRIVATE KEY' . || true"])).toBe("");
    await releaseLease(drydock.commands, id, actor);
    await waitForLeaseStatus(drydock, id, ["destroyed"]);
    const keyLine = ssh.clientKey.split("\n")[1]!;
    const log = JSON.stringify(await readWholeLog(drydock.store));
    expect(log).not.toContain(keyLine);
    expect(log).toContain(KEY_ENV);
  });

  it("refuses a git server whose host key is not the pinned one", async () => {
    const server = ssh.hosts.find((h) => h.name === "wc-b")!;
    const other = ssh.hosts.find((h) => h.name === "wc-a")!;
    // wc-a's key, pinned for wc-b's address: the server shows another key.
    const { stdout: wrongKey } = await run_("ssh-keyscan", ["-p", String(other.port), "-t", "ed25519", "127.0.0.1"]);
    const prefix = `ssh://${ssh.user}@127.0.0.1:${server.port}/`;
    const knownHosts = wrongKey.replace(`[127.0.0.1]:${other.port}`, `[127.0.0.1]:${server.port}`);
    const pinned = await createBlueprint(
      drydock.commands,
      { name: "copies-wrong-pin", kind: "working-copy", config: { hostBlueprintIds: [hostsBlueprint], credentials: [{ urlPrefix: prefix, deployKey: { env: KEY_ENV }, knownHosts }] } },
      actor,
    );
    const { authorizationId } = await requestAuthorization(drydock.commands, hostsBlueprint, `blueprint:${pinned}`, actor);
    await approveAuthorization(drydock.commands, authorizationId, actor);
    const url = `${prefix.replace(/\/$/, "")}${repos.root}/lib`;
    const id = await requestLease(drydock.commands, { resourceType: "working-copy", attributes: { repositoryURL: url, ref: "main" }, blueprintIds: [pinned] }, "ci", actor);
    const ended = await waitForLeaseStatus(drydock, id, ["broken", "destroyed"], 120_000);
    expect(ended.endReason).toMatch(/Host key verification failed/);
  });
});
