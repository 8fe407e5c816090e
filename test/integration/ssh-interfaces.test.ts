import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileNotFoundError, PathOutsideLeaseError, ValidationError } from "../../src/domain/errors";
import { SftpFilesystemInterface } from "../../src/interfaces/sftp-filesystem";
import { SshCommandInterface } from "../../src/interfaces/ssh-command";
import { SshConnectionPool, type SessionRunner } from "../../src/interfaces/ssh-connections";
import { connectSsh, SshConnectionError, type SshTarget } from "../../src/interfaces/ssh-target";
import { waitUntil } from "../support/wait-until";
import { processAlive, sshdAvailable, sshdMissingMessage, startSshHosts, type SshHosts } from "../support/sshd";
import { readWholeFile } from "../support/read-whole-file";

/**
 * The SSH command and SFTP filesystem adapters against a real OpenSSH server on loopback. The
 * "remote" host is this machine, so the tests can look at the lease directory and at processes
 * directly to check what the adapters did.
 */
if (!sshdAvailable) console.warn(`skipping the SSH interface tests: ${sshdMissingMessage}`);
const describeSsh = sshdAvailable ? describe : describe.skip;

let ssh: SshHosts;
let target: SshTarget;
let pool: SshConnectionPool;
let base: string;
let root: string;
let session: SessionRunner;
let command: SshCommandInterface;
let files: SftpFilesystemInterface;

beforeAll(async () => {
  if (!sshdAvailable) return;
  ssh = await startSshHosts(1, "iface");
  const host = ssh.hosts[0]!;
  target = {
    name: host.name,
    address: host.address,
    port: host.port,
    user: ssh.user,
    privateKey: Buffer.from(ssh.clientKey),
    hostKeyFingerprint: host.fingerprint,
    connectTimeoutMs: 5_000,
  };
  pool = new SshConnectionPool({ idleMs: 30_000 });
  base = await mkdtemp(path.join(tmpdir(), "drydock-ssh-iface-"));
  root = path.join(base, "lease");
  await mkdir(root);
  session = (fn) => pool.use("lease-1", target, fn);
  command = new SshCommandInterface({ root, allowShell: true, session });
  files = new SftpFilesystemInterface({ root, session });
});

afterAll(async () => {
  await pool?.closeAll();
  await ssh?.close();
  if (base) await rm(base, { recursive: true, force: true });
});

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

describeSsh("SshCommandInterface", () => {
  it("runs a command in the lease directory and reports exit code, stdout and stderr apart", async () => {
    const uname = await command.exec(["uname", "-a"]);
    expect(uname).toMatchObject({ exitCode: 0, signal: null, timedOut: false, stderr: "" });
    expect(uname.stdout).toMatch(/^Linux /);

    const mixed = await command.exec(["sh", "-c", "pwd; echo err >&2; exit 3"]);
    expect(mixed).toMatchObject({ exitCode: 3, stdout: `${root}\n`, stderr: "err\n", stdoutBytes: root.length + 1, stderrBytes: 4 });

    const missing = await command.exec(["no-such-program-drydock"]);
    expect(missing.exitCode).toBe(127);

    const signalled = await command.exec(["sh", "-c", "kill -s USR1 $$"]);
    expect(signalled).toMatchObject({ exitCode: null, signal: "SIGUSR1" });
  });

  it("passes every argument verbatim: spaces, quotes, $, backquotes, newlines, backslashes, the empty string", async () => {
    const tricky = ["a b", "it's", 'say "hi"', "$HOME", "${PATH}", "`id`", "$(id)", "line1\nline2", "back\\slash", "trailing\\", "", "*", "~", ";", "|", "&&", "'", "\\'", "'\\''", "-n", "--", "\t", "é ü 漢字", " lead"];
    const result = await command.exec(["printf", "%s\\000", ...tricky]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.split("\0").slice(0, -1)).toEqual(tricky);
  });

  it("round-trips arbitrary strings as arguments (property)", async () => {
    const samples = fc.sample(fc.string({ unit: "binary", maxLength: 40 }).filter((s) => !s.includes("\0")), { numRuns: 300, seed: 42 });
    const result = await command.exec(["printf", "%s\\000", ...samples]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.split("\0").slice(0, -1)).toEqual(samples);
  });

  it("sets environment variables and refuses names a shell cannot export", async () => {
    const env = { GREETING: "hello there", QUOTED: "it's $x `y`", IFS: "-" };
    const result = await command.exec(["sh", "-c", 'printf "%s|%s" "$GREETING" "$QUOTED"'], { env });
    expect(result).toMatchObject({ exitCode: 0, stdout: "hello there|it's $x `y`" });
    await expect(command.exec(["true"], { env: { "A-B": "x" } })).rejects.toBeInstanceOf(ValidationError);
    await expect(command.exec(["true"], { env: { "A=B": "x" } })).rejects.toBeInstanceOf(ValidationError);
  });

  it("runs in a cwd inside the lease, and refuses one that leaves it", async () => {
    await mkdir(path.join(root, "sub", "dir"), { recursive: true });
    await writeFile(path.join(root, "sub", "dir", "marker"), "m");
    await symlink(tmpdir(), path.join(root, "escape"));
    expect(await command.exec(["ls"], { cwd: "sub/dir" })).toMatchObject({ exitCode: 0, stdout: "marker\n" });
    await expect(command.exec(["ls"], { cwd: "../.." })).rejects.toBeInstanceOf(PathOutsideLeaseError);
    await expect(command.exec(["ls"], { cwd: "/etc" })).rejects.toBeInstanceOf(PathOutsideLeaseError);
    await expect(command.exec(["ls"], { cwd: "escape" })).rejects.toBeInstanceOf(PathOutsideLeaseError);
    await expect(command.exec(["ls"], { cwd: "nope" })).rejects.toBeInstanceOf(FileNotFoundError);
    await expect(command.exec(["ls"], { cwd: "sub/dir/marker" })).rejects.toBeInstanceOf(ValidationError);
  });

  it("feeds stdin, text or bytes, and closes it", async () => {
    expect(await command.exec(["cat"], { stdin: "from stdin; $HOME `x`" })).toMatchObject({ exitCode: 0, stdout: "from stdin; $HOME `x`" });
    const bytes = new Uint8Array(256).map((_, i) => i);
    const hashed = await command.exec(["sha256sum"], { stdin: bytes });
    expect(hashed.stdout.split(" ")[0]).toBe(sha256(bytes));
    expect(await command.exec(["cat"])).toMatchObject({ exitCode: 0, stdout: "" });
  });

  it("kills the remote process tree at the timeout", async () => {
    const started = Date.now();
    const result = await command.exec(["sh", "-c", "sleep 300 & echo $! > bg.pid; sleep 300"], { timeoutMs: 500 });
    expect(result.timedOut).toBe(true);
    expect(result.exitCode).toBeNull();
    expect(result.signal).toBe("SIGTERM");
    expect(Date.now() - started).toBeLessThan(5_000);
    const background = Number(await readFile(path.join(root, "bg.pid"), "utf8"));
    expect(background).toBeGreaterThan(1);
    for (let i = 0; i < 50 && (await processAlive(background)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await processAlive(background)).toBe(false);
  });

  it("bounds 10 MB of output by default, keeps it all when allowed, and streams every byte", async () => {
    const tenMb = 10 * 1024 * 1024;
    const argv = ["sh", "-c", `head -c ${tenMb} /dev/zero | tr '\\0' x; echo done >&2`];
    let streamed = 0;
    const bounded = await command.exec(argv, { onOutput: (stream, chunk) => (streamed += stream === "stdout" ? chunk.length : 0) });
    expect(bounded).toMatchObject({ exitCode: 0, stdoutBytes: tenMb, stdoutTruncated: true, stderr: "done\n", stderrTruncated: false });
    expect(bounded.stdout.length).toBe(1024 * 1024);
    expect(streamed).toBe(tenMb);

    const complete = await command.exec(argv, { maxOutputBytes: 16 * 1024 * 1024 });
    expect(complete).toMatchObject({ exitCode: 0, stdoutBytes: tenMb, stdoutTruncated: false });
    expect(complete.stdout.length).toBe(tenMb);
    expect(complete.stdout).toBe("x".repeat(tenMb));
  });

  it("streams stdout and stderr chunks as they come", async () => {
    const seen: string[] = [];
    const result = await command.exec(["sh", "-c", "echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three"], {
      onOutput: (stream, chunk) => seen.push(`${stream}:${Buffer.from(chunk).toString()}`),
    });
    expect(result.exitCode).toBe(0);
    expect(seen).toEqual(["stdout:one\n", "stderr:two\n", "stdout:three\n"]);
  });

  it("reuses one connection for the lease's commands and files, and runs more commands at once than an SSH connection has sessions", async () => {
    const opened = pool.opened;
    const clients = await Promise.all([1, 2].map(() => command.exec(["sh", "-c", 'echo "$SSH_CLIENT"'])));
    expect(clients[0]!.stdout).toBe(clients[1]!.stdout);
    await files.writeFile("reuse.txt", new TextEncoder().encode("r"));
    const many = await Promise.all(Array.from({ length: 14 }, (_, i) => command.exec(["sh", "-c", `sleep 0.2; echo ${i}`])));
    expect(many.map((r) => r.stdout)).toEqual(Array.from({ length: 14 }, (_, i) => `${i}\n`));
    expect(pool.opened).toBe(opened);
    expect(pool.size).toBe(1);
  });

  it("opens a new connection after the lease's one is closed", async () => {
    const opened = pool.opened;
    await pool.close("lease-1");
    expect(pool.size).toBe(0);
    expect(await command.exec(["true"])).toMatchObject({ exitCode: 0 });
    expect(pool.opened).toBe(opened + 1);
  });
});

describeSsh("SftpFilesystemInterface", () => {
  it("round-trips all 256 byte values and a 2 MB random file", async () => {
    const all = new Uint8Array(256 * 4).map((_, i) => i % 256);
    await files.writeFile("bin/all-bytes", all);
    expect(Buffer.from(await readWholeFile(files, "bin/all-bytes")).equals(Buffer.from(all))).toBe(true);
    expect((await readFile(path.join(root, "bin", "all-bytes"))).equals(Buffer.from(all))).toBe(true);

    const random = randomBytes(2 * 1024 * 1024);
    await files.writeFile("bin/random", random);
    expect(sha256(await readWholeFile(files, "bin/random"))).toBe(sha256(random));
    const remote = await command.exec(["sha256sum", "bin/random"]);
    expect(remote.stdout.split(" ")[0]).toBe(sha256(random));

    await files.writeFile("bin/empty", new Uint8Array(0));
    expect((await readWholeFile(files, "bin/empty")).length).toBe(0);
  });

  it("streams a file: its size at the open, chunk by chunk as the reader asks, the connection in use until the body ends", async () => {
    const random = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(path.join(root, "streamed.bin"), random);
    // A pool that closes a connection 50 ms after its last use.
    const quick = new SshConnectionPool({ idleMs: 50 });
    const streaming = new SftpFilesystemInterface({ root, session: (fn) => quick.use("lease-stream", target, fn) });
    try {
      const read = await streaming.openFile("streamed.bin");
      expect(read.size).toBe(random.length);
      const reader = read.body.getReader();
      const first = await reader.read();
      expect(first.value!.length).toBeLessThan(random.length);
      // Well past the idle time, the read holds its connection: the rest still comes.
      await new Promise((r) => setTimeout(r, 300));
      expect(quick.size).toBe(1);
      const chunks = [first.value!];
      for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(next.value);
      expect(sha256(Buffer.concat(chunks))).toBe(sha256(random));
      // Once the body ended, the connection is let go as idle.
      await waitUntil("the connection to close once idle", async () => (quick.size === 0 ? true : undefined), 5_000);

      // A file that shrinks under the read fails the body: a short file never passes for the whole one.
      const shrinking = await streaming.openFile("streamed.bin");
      const shrinkReader = shrinking.body.getReader();
      await shrinkReader.read();
      await writeFile(path.join(root, "streamed.bin"), random.subarray(0, 100_000));
      let failure: unknown = null;
      try {
        while (!(await shrinkReader.read()).done) {
          // reading on
        }
      } catch (error) {
        failure = error;
      }
      expect(String(failure)).toMatch(/the file changed while it was read: \d+ of 3145745 bytes/);
    } finally {
      await quick.closeAll();
    }
  });

  it("lists a directory a page at a time, by name in code-unit order", async () => {
    await mkdir(path.join(root, "paged"));
    const names = ["b", "a", "B", "_x", "10", "9", "é"];
    for (const name of names) await writeFile(path.join(root, "paged", name), name);
    const sorted = ["10", "9", "B", "_x", "a", "b", "é"];
    expect((await files.list("paged")).map((e) => e.name)).toEqual(sorted);
    expect((await files.list("paged", { limit: 3 })).map((e) => e.name)).toEqual(sorted.slice(0, 3));
    expect((await files.list("paged", { after: "B", limit: 3 })).map((e) => e.name)).toEqual(["_x", "a", "b"]);
    expect(await files.list("paged", { after: "é" })).toEqual([]);
    expect((await files.list("paged", { after: "9", limit: 1 }))[0]).toMatchObject({ name: "B", type: "file", size: 1 });
  });

  it("writes a stream as it comes, and leaves the file as it was when the stream fails", async () => {
    const parts = [randomBytes(100_000), randomBytes(1), randomBytes(70_000)];
    async function* chunks(fail: boolean) {
      for (const part of parts) yield part;
      if (fail) throw new Error("the client hung up");
    }
    await files.writeFile("streamed/in.bin", chunks(false));
    expect(sha256(await readFile(path.join(root, "streamed", "in.bin")))).toBe(sha256(Buffer.concat(parts)));
    await writeFile(path.join(root, "streamed", "in.bin"), "as it was");
    await expect(files.writeFile("streamed/in.bin", chunks(true))).rejects.toThrow("the client hung up");
    expect(await readFile(path.join(root, "streamed", "in.bin"), "utf8")).toBe("as it was");
    expect((await files.list("streamed")).map((e) => e.name)).toEqual(["in.bin"]);
  });

  it("replaces a file atomically and keeps its mode", async () => {
    await files.writeFile("tool.sh", new TextEncoder().encode("#!/bin/sh\necho v1\n"));
    await chmod(path.join(root, "tool.sh"), 0o755);
    await files.writeFile("tool.sh", new TextEncoder().encode("#!/bin/sh\necho v2\n"));
    expect((await stat(path.join(root, "tool.sh"))).mode & 0o777).toBe(0o755);
    expect(await command.exec(["./tool.sh"])).toMatchObject({ exitCode: 0, stdout: "v2\n" });
  });

  it("lists a directory with types and sizes, and removes trees without following links", async () => {
    await files.writeFile("tree/a.txt", new TextEncoder().encode("aaa"));
    await files.writeFile("tree/deep/b.txt", new TextEncoder().encode("b"));
    const outside = path.join(base, "outside.txt");
    await writeFile(outside, "keep me");
    await symlink(outside, path.join(root, "tree", "link"));
    const listing = await files.list("tree");
    expect(listing.map((e) => [e.name, e.type])).toEqual([
      ["a.txt", "file"],
      ["deep", "directory"],
      ["link", "symlink"],
    ]);
    expect(listing[0]!.size).toBe(3);
    expect(Date.parse(listing[0]!.modifiedAt)).toBeGreaterThan(0);
    expect((await files.list("")).map((e) => e.name)).toContain("tree");

    await files.remove("tree");
    await expect(files.list("tree")).rejects.toBeInstanceOf(FileNotFoundError);
    expect(await readFile(outside, "utf8")).toBe("keep me");
  });

  it("refuses every path that leaves the lease: .., absolute, through symlinks", async () => {
    await mkdir(path.join(base, "secret"), { recursive: true });
    await writeFile(path.join(base, "secret", "s.txt"), "secret");
    await symlink(path.join(base, "secret"), path.join(root, "door"));
    const bytes = new TextEncoder().encode("x");
    for (const bad of ["../secret/s.txt", "/etc/passwd", "a/../../secret/s.txt", "door/s.txt", "door"]) {
      await expect(readWholeFile(files, bad), bad).rejects.toBeInstanceOf(PathOutsideLeaseError);
      await expect(files.writeFile(bad, bytes), bad).rejects.toBeInstanceOf(PathOutsideLeaseError);
      await expect(files.list(bad), bad).rejects.toBeInstanceOf(PathOutsideLeaseError);
      await expect(files.remove(bad), bad).rejects.toBeInstanceOf(PathOutsideLeaseError);
    }
    expect(await readFile(path.join(base, "secret", "s.txt"), "utf8")).toBe("secret");
    await expect(readWholeFile(files, "nothing-here")).rejects.toBeInstanceOf(FileNotFoundError);
    await expect(readWholeFile(files, "bin")).rejects.toBeInstanceOf(ValidationError);
    await expect(files.remove(".")).rejects.toBeInstanceOf(ValidationError);
  });
});

describeSsh("host keys", () => {
  it("refuses a host whose key does not match the pinned fingerprint, naming both", async () => {
    const error = await connectSsh({ ...target, hostKeyFingerprint: ssh.strangerFingerprint }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SshConnectionError);
    expect((error as SshConnectionError).kind).toBe("host_key_mismatch");
    expect((error as Error).message).toContain(`expected ${ssh.strangerFingerprint}, got ${target.hostKeyFingerprint}`);
  });

  it("says when the host does not accept the key", async () => {
    const error = await connectSsh({ ...target, user: "nobody" }).then(
      () => null,
      (e: unknown) => e,
    );
    expect((error as SshConnectionError).kind).toBe("auth_failed");
  });
});
