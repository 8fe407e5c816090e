import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it as itBase } from "vitest";
import type { CommandInterface } from "../../src/interfaces/command-interface";
import { LocalCommandInterface } from "../../src/interfaces/local-command";
import { SshCommandInterface } from "../../src/interfaces/ssh-command";
import { SshConnectionPool } from "../../src/interfaces/ssh-connections";
import { processAlive, sshdAvailable, sshdMissingMessage, startSshHosts, type SshHosts } from "../support/sshd";

/**
 * ExecOptions.onOutput's backpressure, on both adapters: a listener that returns a promise stops
 * the adapter reading the process's output, so the process blocks on its pipe (or, over SSH, on
 * the channel's window), until the promise settles. The SSH "host" is this machine, so either
 * way the process reports where it is through /proc (how much it has written).
 */
const MIB = 1024 * 1024;

if (!sshdAvailable) console.warn(`skipping the SSH half of the backpressure tests: ${sshdMissingMessage}`);

let root: string;
let local: LocalCommandInterface;
let ssh: SshHosts | undefined;
let pool: SshConnectionPool | undefined;
let remote: SshCommandInterface | undefined;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "drydock-pause-"));
  local = new LocalCommandInterface({ root, allowShell: false });
  if (!sshdAvailable) return;
  ssh = await startSshHosts(1, "pause");
  const host = ssh.hosts[0]!;
  const target = { name: host.name, address: host.address, port: host.port, user: ssh.user, privateKey: Buffer.from(ssh.clientKey), hostKeyFingerprint: host.fingerprint, connectTimeoutMs: 5_000 };
  const connections = new SshConnectionPool({ idleMs: 30_000 });
  pool = connections;
  remote = new SshCommandInterface({ root, allowShell: false, session: (fn) => connections.use("pause-lease", target, fn) });
});

afterAll(async () => {
  await pool?.closeAll();
  await ssh?.close();
  await rm(root, { recursive: true, force: true });
});

/** Writes its pid to `file` in the lease directory, then becomes `argv`. */
const withPidFile = (file: string, argv: string) => ["sh", "-c", `echo $$ > ${file}; exec ${argv}`];

async function pidOf(file: string): Promise<number> {
  const pid = Number((await readFile(path.join(root, file), "utf8")).trim());
  expect(pid).toBeGreaterThan(1);
  return pid;
}

async function bytesWritten(pid: number): Promise<number> {
  return Number(/^wchar: (\d+)$/m.exec(await readFile(`/proc/${pid}/io`, "utf8"))![1]);
}

interface Gate {
  promise: Promise<void>;
  open(): void;
  fail(): void;
}

function gate(): Gate {
  let open!: () => void;
  let fail!: () => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = () => reject(new Error("consumer gone"));
  });
  return { promise, open, fail };
}

const settled = (p: Promise<unknown>) => Promise.race([p.then(() => true, () => true), new Promise((r) => setTimeout(() => r(false), 0))]);

const adapters: [string, boolean, () => CommandInterface][] = [
  ["local", true, () => local],
  ["ssh", sshdAvailable, () => remote!],
];

describe.each(adapters)("onOutput backpressure (%s adapter)", (_name, available, adapter) => {
  const it = available ? itBase : itBase.skip;
  let cmd: CommandInterface;
  beforeAll(() => {
    if (available) cmd = adapter();
  });

  it("a pending promise holds the process at its pipe; settling it lets every byte through", async () => {
    const total = 50_000_000;
    const paused = gate();
    let seen = 0;
    let calls = 0;
    let firstChunk!: () => void;
    const first = new Promise<void>((r) => (firstChunk = r));
    const running = cmd.exec(withPidFile("head.pid", `head -c ${total} /dev/zero`), {
      maxOutputBytes: 0,
      onOutput: (_stream, chunk) => {
        seen += chunk.length;
        calls++;
        firstChunk();
        return calls === 1 ? paused.promise : undefined;
      },
    });
    await first;
    const pid = await pidOf("head.pid");
    await new Promise((r) => setTimeout(r, 500));
    // Held: the process is still there, blocked after what the pipe (and, over SSH, the
    // channel's window and sshd) can hold, and we saw only the one chunk.
    expect(await settled(running)).toBe(false);
    expect(await bytesWritten(pid)).toBeLessThan(16 * MIB);
    expect(calls).toBe(1);
    const seenWhilePaused = seen;

    paused.open();
    const result = await running;
    expect(seenWhilePaused).toBeLessThan(total);
    expect(seen).toBe(total);
    expect(result).toMatchObject({ exitCode: 0, timedOut: false, stdoutBytes: total, stdout: "", stdoutTruncated: true });
  });

  it("a rejected promise resumes too (a consumer that fails must not freeze the command)", async () => {
    const paused = gate();
    let calls = 0;
    const running = cmd.exec(["head", "-c", "5000000", "/dev/zero"], {
      maxOutputBytes: 0,
      onOutput: () => (++calls === 1 ? paused.promise : undefined),
    });
    let callsWhilePaused = 0;
    setTimeout(() => {
      callsWhilePaused = calls;
      paused.fail();
    }, 200);
    const result = await running;
    expect(callsWhilePaused).toBe(1);
    expect(result).toMatchObject({ exitCode: 0, stdoutBytes: 5_000_000 });
    expect(calls).toBeGreaterThan(1);
  });

  it("pauses stderr with stdout, keeps them paused when the process exits before its children, and the timeout still ends them", async () => {
    const never = new Promise<void>(() => {});
    let seen = 0;
    // sh exits while both of its `yes` still write: Node resumes a child's pipes when it exits.
    const script = "yes >&2 & echo $! > err.pid; yes & echo $! > out.pid; sleep 0.5";
    const result = await cmd.exec(["sh", "-c", script], {
      maxOutputBytes: 0,
      timeoutMs: 1_500,
      onOutput: (_stream, chunk) => {
        seen += chunk.length;
        return never;
      },
    });
    expect(result.timedOut).toBe(true);
    // Whichever stream came first, the other was held up with it: unpaused, two `yes` write
    // gigabytes in that time. (Over SSH, giving up on the channel reads what it still buffered.)
    expect(seen).toBeLessThan(16 * MIB);
    expect(result.stdoutBytes + result.stderrBytes).toBe(seen);
    for (const pid of [await pidOf("err.pid"), await pidOf("out.pid")]) {
      const deadline = Date.now() + 10_000;
      while (await processAlive(pid)) {
        if (Date.now() > deadline) throw new Error(`yes (pid ${pid}) outlived the command's timeout`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
});
