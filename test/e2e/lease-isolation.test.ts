/**
 * Issue 13's attacks, made as a hostile client would make them: a client token authorized for
 * the local host, commands and file calls over the API. Each must fail with nothing outside the
 * lease touched. Needs bubblewrap (installed by .ci/run) and root, as CI runs.
 */
import { randomBytes } from "node:crypto";
import { link, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiClient, type ApiHarness } from "./api-harness";

let api: ApiHarness;
let home: string;
let mallory: ApiClient;
let alice: ApiClient;
const secret = `s3cret-${randomBytes(8).toString("hex")}`;
const envSecret = `env-${randomBytes(8).toString("hex")}`;

beforeAll(async () => {
  // A service home laid out as `npm start` lays it out: the admin token beside the lease roots.
  home = await mkdtemp(path.join(tmpdir(), "drydock-home-"));
  await writeFile(path.join(home, "admin.token"), `${secret}\n`, { mode: 0o600 });
  await writeFile(path.join(home, "readable-by-all"), `${secret}\n`, { mode: 0o644 });
  process.env.DRYDOCK_ISOLATION_TEST_SECRET = envSecret;
  api = await startApi({}, { localHost: { root: path.join(home, "local-host"), slots: 8 }, sandbox: { hidden: [home] } });
  mallory = await api.client("mallory");
  alice = await api.client("alice");
});
afterAll(async () => {
  delete process.env.DRYDOCK_ISOLATION_TEST_SECRET;
  await api?.close();
  await rm(home, { recursive: true, force: true });
});

/** Leases a test took, given back after it so the next test finds a free slot. */
const taken: { client: ApiClient; id: string }[] = [];
afterEach(async () => {
  for (const { client, id } of taken.splice(0)) await client.call("POST", `/v1/leases/${id}/release`, {});
});

async function leaseAs(client: ApiClient): Promise<{ id: string; dir: string }> {
  const created = await client.call("POST", "/v1/leases?wait=30", { resourceType: "host" });
  if (created.status !== 201 || created.body.status !== "active") throw new Error(`no active lease: ${created.status} ${created.text}`);
  taken.push({ client, id: created.body.id });
  // The lease's directory, as its own commands see it (the same path as on the host).
  const pwd = await exec(client, created.body.id, ["pwd"]);
  if (pwd.body?.exitCode !== 0) throw new Error(`pwd failed: ${pwd.text}`);
  return { id: created.body.id, dir: pwd.body.stdout.trim() };
}

const exec = (client: ApiClient, leaseId: string, argv: string[], extra: Record<string, unknown> = {}) =>
  client.call("POST", `/v1/leases/${leaseId}/commands`, { argv, ...extra });

/**
 * Every process on this machine whose command line starts with `needle` (`sleep 338`): the
 * program itself, not a wrapper (sh, bwrap, setpriv) that carries it as an argument.
 */
async function processesMatching(needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    const text = cmdline.replace(/\0/g, " ").trim();
    if (text.startsWith(needle)) found.push(`${pid}: ${text}`);
  }
  return found;
}

async function release(client: ApiClient, leaseId: string): Promise<void> {
  expect((await client.call("POST", `/v1/leases/${leaseId}/release`, {})).status).toBe(200);
  await api.pollLease(leaseId, (l) => l.status === "destroyed", 30_000);
}

describe("a client's local lease cannot reach the service", () => {
  it("cannot read the admin token by a relative or an absolute path", async () => {
    const lease = await leaseAs(mallory);
    for (const argv of [["cat", "../../../../admin.token"], ["cat", path.join(home, "admin.token")], ["cat", path.join(home, "readable-by-all")]]) {
      const res = await exec(mallory, lease.id, argv);
      expect(res.status).toBe(200);
      expect(res.body.exitCode).not.toBe(0);
      expect(res.text).not.toContain(secret);
    }
    // The home is not even there to list.
    const ls = await exec(mallory, lease.id, ["ls", "-la", home]);
    expect(ls.text).not.toContain("admin.token");
  });

  it("runs as an unprivileged user with a minimal environment", async () => {
    const lease = await leaseAs(mallory);
    const id = await exec(mallory, lease.id, ["id", "-u"]);
    expect(id.body.exitCode).toBe(0);
    expect(Number(id.body.stdout.trim())).toBeGreaterThan(0);
    const env = await exec(mallory, lease.id, ["env"]);
    const names = env.body.stdout.trim().split("\n").map((line: string) => line.split("=")[0]).sort();
    expect(names).toEqual(["HOME", "LANG", "PATH", "PWD", "TMPDIR"]);
    expect(env.body.stdout).not.toContain("/root");
  });

  it("cannot read the service's environment through /proc", async () => {
    const lease = await leaseAs(mallory);
    const direct = await exec(mallory, lease.id, ["cat", `/proc/${process.pid}/environ`]);
    expect(direct.text).not.toContain(envSecret);
    const sweep = await exec(mallory, lease.id, ["sh", "-c", "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; ls /proc"]);
    expect(sweep.text).not.toContain(envSecret);
    // Its own PID namespace: only the sandbox's few processes are there.
    const pids = sweep.body.stdout.split(/\s+/).filter((entry: string) => /^\d+$/.test(entry)).map(Number);
    expect(Math.max(...pids)).toBeLessThan(20);
  });

  it("cannot reach the service's port or the database over the network", async () => {
    const lease = await leaseAs(mallory);
    const probe = `const s=require("net").connect(5432,"127.0.0.1");s.on("connect",()=>{console.log("CONNECTED");process.exit(0)});s.on("error",e=>{console.log(e.code);process.exit(0)})`;
    const res = await exec(mallory, lease.id, ["node", "-e", probe]);
    expect(res.body.exitCode).toBe(0);
    expect(res.body.stdout).not.toContain("CONNECTED");
  });
});

describe("a lease cannot reach another lease", () => {
  it("cannot read or list another lease's files", async () => {
    const alices = await leaseAs(alice);
    expect((await alice.call("PUT", `/v1/leases/${alices.id}/files/private.txt`, secret, { "content-type": "text/plain" })).status).toBe(204);
    const mine = await leaseAs(mallory);
    const read = await exec(mallory, mine.id, ["cat", path.join(alices.dir, "private.txt")]);
    expect(read.body.exitCode).not.toBe(0);
    expect(read.text).not.toContain(secret);
    const list = await exec(mallory, mine.id, ["ls", "-la", path.dirname(mine.dir)]);
    expect(list.text).not.toContain(alices.id);
    // Alice still has her file.
    const back = await alice.call("GET", `/v1/leases/${alices.id}/files/private.txt`);
    expect(back.text).toBe(secret);
  });
});

describe("the files API stays inside the lease, whatever the lease does to its directory", () => {
  it("a lease cannot swap its own root for a symlink", async () => {
    const lease = await leaseAs(mallory);
    const mv = await exec(mallory, lease.id, ["mv", lease.dir, `${lease.dir}.real`]);
    expect(mv.body.exitCode).not.toBe(0);
    expect((await stat(lease.dir)).isDirectory()).toBe(true);
  });

  it("a root swapped for a symlink to / (by anyone) is refused, not followed", async () => {
    const lease = await leaseAs(mallory);
    await rename(lease.dir, `${lease.dir}.real`);
    await symlink("/", lease.dir);
    try {
      const get = await mallory.call("GET", `/v1/leases/${lease.id}/files/etc/hostname`);
      expect(get.status).toBeGreaterThanOrEqual(400);
      expect(get.status).toBeLessThan(600);
      expect(get.status).not.toBe(500);
      const put = await mallory.call("PUT", `/v1/leases/${lease.id}/files/drydock-escape-${lease.id}`, "x", { "content-type": "text/plain" });
      expect(put.status).not.toBe(204);
      await expect(stat(`/drydock-escape-${lease.id}`)).rejects.toThrow();
      const del = await mallory.call("DELETE", `/v1/leases/${lease.id}/files/etc/hostname`);
      expect(del.status).not.toBe(204);
      expect((await stat("/etc/hostname")).isFile()).toBe(true);
      const run = await exec(mallory, lease.id, ["cat", "/etc/shadow"]);
      expect(run.status).not.toBe(200);
    } finally {
      await rm(lease.dir);
      await rename(`${lease.dir}.real`, lease.dir);
    }
  });

  it("a hard link cannot be made to a file outside, and one planted from outside is not served", async () => {
    const lease = await leaseAs(mallory);
    const ln = await exec(mallory, lease.id, ["ln", "/etc/hostname", "hostname-link"]);
    expect(ln.body.exitCode).not.toBe(0);
    // Planted by someone else on the same filesystem: the file is not the lease's.
    await link(path.join(home, "readable-by-all"), path.join(lease.dir, "planted"));
    const get = await mallory.call("GET", `/v1/leases/${lease.id}/files/planted`);
    expect(get.status).toBe(400);
    expect(get.body.error.code).toBe("path_outside_lease");
    expect(get.text).not.toContain(secret);
  });

  it("a directory flipping between a real directory and a symlink never lets a read or write escape", async () => {
    const lease = await leaseAs(mallory);
    const target = await mkdtemp(path.join(tmpdir(), "drydock-race-"));
    await writeFile(path.join(target, "secret"), secret, { mode: 0o644 });
    try {
      // The flipper runs in the lease, as a hostile client's command would, until the test has
      // made its reads and writes (a fixed number, however slow the machine) and says stop. It
      // prints how many times it flipped.
      const flipper = exec(
        mallory,
        lease.id,
        ["sh", "-c", `touch started; n=0; end=$(($(date +%s)+90)); while [ ! -e stop ] && [ $(date +%s) -lt $end ]; do mkdir -p d.real; echo inside > d.real/secret; rm -rf d; mv d.real d; rm -rf d; ln -s ${target} d; n=$((n+1)); done; rm -rf d; echo $n`],
        { timeoutSeconds: 120 },
      );
      const startBy = Date.now() + 30_000;
      while ((await mallory.call("GET", `/v1/leases/${lease.id}/files/started`)).status !== 200) {
        if (Date.now() > startBy) throw new Error("the flipper did not start within 30 s");
        await new Promise((r) => setTimeout(r, 50));
      }
      for (let i = 0; i < 25; i++) {
        const get = await mallory.call("GET", `/v1/leases/${lease.id}/files/d/secret`);
        expect(get.text).not.toContain(secret);
        await mallory.call("PUT", `/v1/leases/${lease.id}/files/d/written-${i}`, "x", { "content-type": "text/plain" });
      }
      expect((await mallory.call("PUT", `/v1/leases/${lease.id}/files/stop`, "", { "content-type": "text/plain" })).status).toBe(204);
      const done = await flipper;
      expect(done.status).toBe(200);
      // It flipped while the test read and wrote (it stopped on the test's word, not its own clock).
      expect(Number(done.body.stdout)).toBeGreaterThan(0);
      expect(done.body.timedOut).toBe(false);
      expect((await readdir(target)).sort()).toEqual(["secret"]);
    } finally {
      await rm(target, { recursive: true, force: true });
    }
  });
});

describe("every process ends with its command and its lease", () => {
  it("a setsid escape and a background process do not outlive the command", async () => {
    const lease = await leaseAs(mallory);
    const res = await exec(mallory, lease.id, ["sh", "-c", "setsid -f sleep 317; sleep 318 & nohup sleep 319 >/dev/null 2>&1 & echo started"]);
    expect(res.body).toMatchObject({ exitCode: 0, stdout: "started\n" });
    await waitForNone(["sleep 317", "sleep 318", "sleep 319"]);
  });

  it("a command's timeout ends everything it started", async () => {
    const lease = await leaseAs(mallory);
    const res = await exec(mallory, lease.id, ["sh", "-c", "setsid -f sleep 327; sleep 328"], { timeoutSeconds: 0.5 });
    expect(res.body.timedOut).toBe(true);
    await waitForNone(["sleep 327", "sleep 328"]);
  });

  it("destroying the lease ends a command still running, and the history says what was killed", async () => {
    const lease = await leaseAs(mallory);
    const running = exec(mallory, lease.id, ["sh", "-c", "setsid -f sleep 337; sleep 338"], { timeoutSeconds: 120 });
    await waitForSome("sleep 338");
    await release(mallory, lease.id);
    const res = await running;
    expect(res.status).toBe(200);
    expect(res.body.exitCode).not.toBe(0);
    await waitForNone(["sleep 337", "sleep 338"]);
    // The lease's own history (the global log may lag behind transactions in flight elsewhere).
    const events = await api.call("GET", `/v1/leases/${lease.id}/events`);
    const destroyed = events.body.items.find((e: any) => e.type === "LeaseDestroyed");
    expect(destroyed.data.killedProcesses.length).toBeGreaterThan(0);
    expect(JSON.stringify(destroyed.data.killedProcesses)).toContain("sleep");
  });
});

describe("per-lease limits", () => {
  it("refuses a command over the concurrent-command cap with 429, and caps processes", async () => {
    const blueprintId = await api.localHostBlueprintId();
    const current = await api.call("GET", `/v1/blueprints/${blueprintId}`);
    const patched = await api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config: { ...current.body.config, maxConcurrentCommands: 2, sandbox: { maxProcesses: 16 } } });
    expect(patched.status).toBe(200);
    try {
      const lease = await leaseAs(mallory);
      const slow = [exec(mallory, lease.id, ["sleep", "2"]), exec(mallory, lease.id, ["sleep", "2"])];
      await waitForSome("sleep 2", 2);
      const third = await exec(mallory, lease.id, ["true"]);
      expect(third.status).toBe(429);
      expect(third.body.error.code).toBe("too_many_commands");
      expect(third.body.error.message).toMatch(/2 commands/);
      for (const r of await Promise.all(slow)) expect(r.body.exitCode).toBe(0);

      const bomb = await exec(mallory, lease.id, ["sh", "-c", "for i in $(seq 1 40); do sleep 347 & done; wait"], { timeoutSeconds: 3 });
      expect(bomb.body.stderr).toMatch(/fork|Resource temporarily unavailable/i);
      expect((await processesMatching("sleep 347")).length).toBe(0);
    } finally {
      await api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config: current.body.config });
    }
  });
});

async function waitForNone(needles: string[], timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = (await Promise.all(needles.map(processesMatching))).flat();
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`still running: ${left.join("; ")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitForSome(needle: string, count = 1, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await processesMatching(needle)).length < count) {
    if (Date.now() > deadline) throw new Error(`never saw ${count} × ${needle}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

