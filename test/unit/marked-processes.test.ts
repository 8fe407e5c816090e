import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { ValidationError } from "../../src/domain/errors";
import { COMMAND_MARKER, LEASE_MARKER, SweepOutputReader, sweepCommandLine, timeoutKillCommandLine } from "../../src/interfaces/marked-processes";
import { commandOf, killMarked, markedPids } from "../support/marked-pids";
import { processAlive } from "../support/sshd";
import { until } from "../support/ssh-pool";

/**
 * The sweep scripts run by this machine's dash and bash against real processes started here
 * with the markers in their environment (the SSH tests run them on a host over sshd).
 */
const run = promisify(execFile);
const used: string[] = [];
const freshId = () => {
  const id = `ls_t${randomBytes(6).toString("hex")}`;
  used.push(id);
  return id;
};

afterEach(async () => {
  for (const pgid of groups.splice(0)) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // gone
    }
  }
  for (const id of used.splice(0)) {
    await killMarked(LEASE_MARKER, id);
    await killMarked(LEASE_MARKER, `${id}2`);
  }
});

/** Process groups the tests started, ended after each test whatever happened. */
const groups: number[] = [];

/**
 * Starts `script` under /bin/sh with `env` added; returns the pids of the `sleep`s carrying the
 * lease marker once there are `count` (the shells and setsid in between come and go).
 */
async function startMarked(script: string, env: Record<string, string>, expect: { id: string; count: number }): Promise<number[]> {
  const child = spawn("/bin/sh", ["-c", script], { env: { ...process.env, ...env }, stdio: "ignore", detached: true });
  child.unref();
  groups.push(child.pid!);
  return until(`${expect.count} sleeps carrying ${expect.id}`, async () => {
    const sleeps: number[] = [];
    for (const pid of await markedPids(LEASE_MARKER, expect.id)) if ((await commandOf(pid))?.startsWith("sleep ")) sleeps.push(pid);
    return sleeps.length >= expect.count ? sleeps : undefined;
  });
}

async function sweep(shell: string, id: string, env: NodeJS.ProcessEnv = process.env) {
  const { stdout } = await run(shell, ["-c", sweepCommandLine(LEASE_MARKER, id)], { env });
  const reader = new SweepOutputReader(100);
  reader.push(stdout);
  return reader.finish();
}

describe("sweeping a lease's processes", () => {
  for (const shell of ["/bin/dash", "/bin/bash"]) {
    it(`${shell}: kills detached and background processes carrying the exact entry, and nothing else`, async () => {
      const id = freshId();
      const marked = await startMarked("setsid -f sleep 1000 >/dev/null 2>&1; sleep 1001 >/dev/null 2>&1 &", { [LEASE_MARKER]: id }, { id, count: 2 });
      // Another lease whose id starts with this one's, and a process naming the entry only in its argv.
      const [longer] = await startMarked("sleep 1002 >/dev/null 2>&1 &", { [LEASE_MARKER]: `${id}2` }, { id: `${id}2`, count: 1 });
      const mention = spawn("/bin/sh", ["-c", `sleep 1003; : ${LEASE_MARKER}=${id}`], { stdio: "ignore", detached: true });
      mention.unref();
      groups.push(mention.pid!);

      const result = await sweep(shell, id);
      expect(result).toEqual({ left: 0, killed: expect.any(Array) });
      const killed = (result as { killed: { pid: number; command: string }[] }).killed;
      expect(killed.map((p) => p.pid).sort((a, b) => a - b)).toEqual(marked);
      expect(killed.map((p) => p.command).sort()).toEqual(["sleep", "sleep"]);
      await until("the killed processes to be gone", async () => (await markedPids(LEASE_MARKER, id)).length === 0);
      expect(await processAlive(longer!)).toBe(true);
      expect(await processAlive(mention.pid!)).toBe(true);
    });
  }

  it("finds the exact entry with a POSIX grep too (one without -z)", async () => {
    const id = freshId();
    const bin = await mkdtemp(path.join(tmpdir(), "drydock-posix-grep-"));
    try {
      // A grep that refuses -z, as a strictly POSIX one does; everything else goes to the real one.
      await writeFile(path.join(bin, "grep"), `#!/bin/sh\nfor a; do case "$a" in --) break;; -*z*) echo "grep: no -z" >&2; exit 2;; esac; done\nexec ${(await run("/bin/sh", ["-c", "command -v grep"])).stdout.trim()} "$@"\n`);
      await chmod(path.join(bin, "grep"), 0o755);
      const marked = await startMarked("setsid -f sleep 1000 >/dev/null 2>&1", { [LEASE_MARKER]: id }, { id, count: 1 });
      const [longer] = await startMarked("sleep 1002 >/dev/null 2>&1 &", { [LEASE_MARKER]: `${id}2` }, { id: `${id}2`, count: 1 });
      const result = await sweep("/bin/sh", id, { ...process.env, PATH: `${bin}:${process.env.PATH}` });
      expect(result).toEqual({ left: 0, killed: [{ pid: marked[0], command: "sleep" }] });
      expect(await processAlive(longer!)).toBe(true);
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  });

  it("keeps killing while the processes fork", async () => {
    const id = freshId();
    // A parent that starts a child every 10 ms, and children that fork again.
    await startMarked("(while :; do sleep 1000 >/dev/null 2>&1 & sleep 0.01; done) >/dev/null 2>&1 & (while :; do sh -c 'sleep 1000 &' ; sleep 0.01; done) >/dev/null 2>&1 &", { [LEASE_MARKER]: id }, { id, count: 10 });
    const result = await sweep("/bin/sh", id);
    expect(result).toMatchObject({ left: 0 });
    expect((result as { killed: unknown[] }).killed.length).toBeGreaterThanOrEqual(10);
    await until("every marked process to be gone", async () => (await markedPids(LEASE_MARKER, id)).length === 0);
  });

  it.runIf(process.getuid?.() === 0)("as root, leaves another user's processes carrying the entry alone", async () => {
    const id = freshId();
    const [other] = await startMarked("exec setpriv --reuid=65534 --regid=65534 --clear-groups sleep 1004", { [LEASE_MARKER]: id }, { id, count: 1 });
    const result = await sweep("/bin/sh", id);
    expect(result).toEqual({ killed: [], left: 0 });
    expect(await processAlive(other!)).toBe(true);
    process.kill(other!, "SIGKILL");
  });

  it("a timeout's script ends the command's group and the processes carrying its marker, TERM first", async () => {
    const id = freshId();
    const command = randomBytes(8).toString("hex");
    // The group leader traps TERM and says so; its setsid'd child left the group and ignores TERM.
    const child = spawn("/bin/sh", ["-c", `trap 'echo got-term; exit 0' TERM; setsid -f sh -c 'trap "" TERM; exec sleep 1005' >/dev/null 2>&1; sleep 1006 & wait`], {
      env: { ...process.env, [LEASE_MARKER]: id, [COMMAND_MARKER]: command },
      stdio: ["ignore", "pipe", "ignore"],
      detached: true,
    });
    groups.push(child.pid!);
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    const pids = await until("the command's three processes", async () => {
      const found = await markedPids(COMMAND_MARKER, command);
      return found.length >= 3 ? found : undefined;
    });
    await run("/bin/sh", ["-c", timeoutKillCommandLine(child.pid!, COMMAND_MARKER, command, 1)]);
    await until("every process of the command to be gone", async () => {
      for (const pid of pids) if (await processAlive(pid)) return undefined;
      return true;
    });
    expect(out).toBe("got-term\n");
    expect(() => timeoutKillCommandLine(1, COMMAND_MARKER, command, 1)).toThrow(ValidationError);
  });

  it("refuses markers that are not ids, and reads the scripts' output line by line", () => {
    expect(() => sweepCommandLine(LEASE_MARKER, "a'b")).toThrow(ValidationError);
    expect(() => sweepCommandLine("PATH", "x")).toThrow(ValidationError);
    const reader = new SweepOutputReader(2);
    reader.push("drydock-killed:10 sleep 1\ndrydock-kil");
    reader.push("led:10 sleep 1\ndrydock-killed:11 make -j\ndrydock-killed:12 cc\nnoise\ndrydock-left: 1\n");
    expect(reader.finish()).toEqual({ killed: [{ pid: 10, command: "sleep 1" }, { pid: 11, command: "make -j" }], left: 1 });
    expect(reader.unlisted).toBe(1);
    const noProc = new SweepOutputReader(2);
    noProc.push("drydock-no-proc\n");
    expect(noProc.finish()).toEqual({ error: "the host has no /proc to find them in" });
    expect(new SweepOutputReader(2).finish()).toEqual({ error: "the scan did not finish" });
  });
});
