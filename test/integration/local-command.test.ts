import { mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileNotFoundError, PathOutsideLeaseError, ValidationError } from "../../src/domain/errors";
import { LocalCommandInterface } from "../../src/interfaces/local-command";

let root: string;
let cmd: LocalCommandInterface;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "drydock-cmd-"));
  await mkdir(path.join(root, "sub", "deeper"), { recursive: true });
  cmd = new LocalCommandInterface({ root, allowShell: false });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A zombie counts as dead: it has exited and only waits for init (slow in some sandboxes) to reap it. */
async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // Format: "pid (comm) state ..."; comm may contain spaces, so split after the last ')'.
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

describe("LocalCommandInterface", () => {
  it("runs uptime", async () => {
    const result = await cmd.exec(["uptime"]);
    expect(result.exitCode).toBe(0);
    expect(result.signal).toBeNull();
    expect(result.timedOut).toBe(false);
    expect(result.stdout.trim()).not.toBe("");
    expect(result.durationMs).toBeGreaterThan(0);
  });

  it("passes argv strings verbatim (spaces, quotes, $, newlines)", async () => {
    const tricky = "a b'c$HOME\nx \"q\" `id` ; *";
    const result = await cmd.exec(["printf", "%s", tricky]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(tricky);
  });

  it("does not use a shell unless asked", async () => {
    const result = await cmd.exec(["echo", "$HOME", "*"]);
    expect(result.stdout).toBe("$HOME *\n");
  });

  it("refuses shell: true when the lease does not allow shells", async () => {
    await expect(cmd.exec(["echo hi"], { shell: true })).rejects.toMatchObject({
      constructor: ValidationError,
      details: { field: "shell" },
    });
  });

  it("runs a single script through /bin/sh when shells are allowed", async () => {
    const shellCmd = new LocalCommandInterface({ root, allowShell: true });
    const result = await shellCmd.exec(["echo $HOME | tr a-z A-Z"], { shell: true });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(`${root.toUpperCase()}\n`);
    await expect(shellCmd.exec(["echo", "hi"], { shell: true })).rejects.toBeInstanceOf(ValidationError);
  });

  it("refuses an empty argv", async () => {
    await expect(cmd.exec([])).rejects.toMatchObject({ constructor: ValidationError, details: { field: "argv" } });
  });

  it("runs in the lease root by default and in a subdirectory on request", async () => {
    expect((await cmd.exec(["pwd"])).stdout).toBe(`${root}\n`);
    expect((await cmd.exec(["pwd"], { cwd: "sub/deeper" })).stdout).toBe(`${path.join(root, "sub", "deeper")}\n`);
  });

  it("refuses a cwd outside the lease", async () => {
    await symlink("/etc", path.join(root, "etc-link"));
    for (const cwd of ["..", "/etc", "sub/../../", "etc-link", "sub/../etc-link"]) {
      await expect(cmd.exec(["pwd"], { cwd })).rejects.toBeInstanceOf(PathOutsideLeaseError);
    }
    await expect(cmd.exec(["pwd"], { cwd: "missing" })).rejects.toBeInstanceOf(FileNotFoundError);
  });

  it("gives the child a minimal env plus baseEnv and env, never the service's own", async () => {
    process.env.DRYDOCK_SECRET_TEST = "s3cret";
    try {
      const envCmd = new LocalCommandInterface({ root, allowShell: false, baseEnv: { LEASE_ID: "l-1", B: "base" } });
      const result = await envCmd.exec(["env"], { env: { B: "override", WITH_SPACE: "x y" } });
      expect(result.exitCode).toBe(0);
      const lines = result.stdout.split("\n");
      expect(lines).toContain("LEASE_ID=l-1");
      expect(lines).toContain("B=override");
      expect(lines).toContain("WITH_SPACE=x y");
      expect(lines).toContain(`HOME=${root}`);
      expect(lines.some((l) => l.startsWith("PATH="))).toBe(true);
      expect(result.stdout).not.toContain("DRYDOCK_SECRET_TEST");
      expect(result.stdout).not.toContain("s3cret");
    } finally {
      delete process.env.DRYDOCK_SECRET_TEST;
    }
  });

  it("round-trips stdin through cat, and closes stdin when none is given", async () => {
    const input = "line 1\nline 2 ünïcødé\n";
    expect((await cmd.exec(["cat"], { stdin: input })).stdout).toBe(input);
    const bytes = new Uint8Array([104, 105, 10]);
    expect((await cmd.exec(["cat"], { stdin: bytes })).stdout).toBe("hi\n");
    const empty = await cmd.exec(["cat"], { timeoutMs: 5_000 });
    expect(empty.timedOut).toBe(false);
    expect(empty.stdout).toBe("");
  });

  it("kills the whole process tree on timeout", async () => {
    const result = await cmd.exec(["sh", "-c", "sleep 30 & echo $! > child.pid; sleep 30"], { timeoutMs: 500 });
    expect(result.timedOut).toBe(true);
    expect(result.exitCode).toBeNull();
    expect(result.signal).toBe("SIGTERM");
    expect(result.durationMs).toBeLessThan(5_000);

    const grandchild = Number((await readFile(path.join(root, "child.pid"), "utf8")).trim());
    expect(grandchild).toBeGreaterThan(0);
    // SIGTERM was sent to the group; give the grandchild a moment to act on it.
    const deadline = Date.now() + 2_000;
    while ((await isAlive(grandchild)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await isAlive(grandchild)).toBe(false);
  });

  it("bounds the output it keeps, and counts all of it", async () => {
    const result = await cmd.exec(["head", "-c", "5000000", "/dev/zero"], { maxOutputBytes: 1000 });
    expect(result.exitCode).toBe(0);
    expect(result.stdout.length).toBe(1000);
    expect(result.stdoutTruncated).toBe(true);
    expect(result.stdoutBytes).toBe(5_000_000);
    expect(result.stderrTruncated).toBe(false);
    expect(result.stderrBytes).toBe(0);
  });

  it("reports a missing command as exit 127, like a shell", async () => {
    const result = await cmd.exec(["drydock-no-such-command-xyz", "arg"]);
    expect(result.exitCode).toBe(127);
    expect(result.stderr).toContain("command not found: drydock-no-such-command-xyz");
    expect(result.timedOut).toBe(false);
  });

  it("propagates exit codes and stderr", async () => {
    const result = await cmd.exec(["sh", "-c", "echo oops >&2; exit 3"]);
    expect(result.exitCode).toBe(3);
    expect(result.signal).toBeNull();
    expect(result.stderr).toBe("oops\n");
  });

  it("streams every chunk of output to onOutput as it comes, beyond the kept bound", async () => {
    const seen: string[] = [];
    let bytes = 0;
    const result = await cmd.exec(["sh", "-c", "echo one; sleep 0.2; echo two >&2; sleep 0.2; head -c 100000 /dev/zero"], {
      maxOutputBytes: 10,
      onOutput: (stream, chunk) => {
        if (seen.length < 2) seen.push(`${stream}:${Buffer.from(chunk).toString()}`);
        if (stream === "stdout") bytes += chunk.length;
      },
    });
    expect(seen).toEqual(["stdout:one\n", "stderr:two\n"]);
    expect(bytes).toBe(100_004);
    expect(result).toMatchObject({ exitCode: 0, stdoutBytes: 100_004, stdoutTruncated: true });
    // A listener that throws is dropped; the command still completes.
    const survived = await cmd.exec(["echo", "x"], {
      onOutput: () => {
        throw new Error("client went away");
      },
    });
    expect(survived).toMatchObject({ exitCode: 0, stdout: "x\n" });
  });
});
