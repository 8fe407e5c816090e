import { spawnSync } from "node:child_process";
import { chmod, chown, mkdir, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { probeSandboxHost } from "../../src/sandbox/sandbox-host";

/**
 * The start-up probe runs `true` in a sandbox over a directory of /tmp; it must leave nothing
 * there (it used to leave one at every start: bwrap makes the lease directory's mount point
 * inside it). It also removes what probes of processes that are gone left, and never touches a
 * running process's, nor anything in /tmp that another user could have made or written to.
 */
const mine = async () => (await readdir("/tmp")).filter((name) => name.startsWith(`drydock-sandbox-probe-${process.pid}-`));

/** A pid that was just in use and is not any more. */
const goneProcessPid = () => spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" }).stdout.trim();

describe.runIf(process.platform === "linux")("the sandbox probe at start", () => {
  it("leaves no directory in /tmp, whether the sandbox works or not", async () => {
    const host = await probeSandboxHost();
    expect(await mine()).toEqual([]);
    // The probe ran bwrap where this machine has it (CI installs it): the case that left one.
    if (spawnSync("bwrap", ["--version"]).status === 0) expect(host.unavailable).toBeNull();
  });

  it("removes a gone process's leftover, with what is in it, and keeps a running one's", async () => {
    const gonePid = goneProcessPid();
    const gone = path.join("/tmp", `drydock-sandbox-probe-${gonePid}-1796417130532`);
    await mkdir(path.join(gone, path.basename(gone)), { recursive: true });
    const running = path.join("/tmp", `drydock-sandbox-probe-${process.ppid}-left`);
    await mkdir(running, { recursive: true });
    try {
      await probeSandboxHost();
      await expect(stat(gone)).rejects.toMatchObject({ code: "ENOENT" });
      expect((await stat(running)).isDirectory()).toBe(true);
    } finally {
      await Promise.all([rm(gone, { recursive: true, force: true }), rm(running, { recursive: true, force: true })]);
    }
  });

  it("leaves what only looks like a leftover: a symlink, a directory others may write to, another user's", async () => {
    const gonePid = goneProcessPid();
    const target = path.join("/tmp", `drydock-probe-target-${process.pid}`);
    await mkdir(target, { recursive: true });
    await writeFile(path.join(target, "keep"), "kept");
    const link = path.join("/tmp", `drydock-sandbox-probe-${gonePid}-link`);
    await symlink(target, link);
    const open = path.join("/tmp", `drydock-sandbox-probe-${gonePid}-open`);
    await mkdir(path.join(open, "inner"), { recursive: true });
    await chmod(open, 0o777);
    const others = path.join("/tmp", `drydock-sandbox-probe-${gonePid}-others`);
    await mkdir(others, { recursive: true, mode: 0o700 });
    const asRoot = process.getuid?.() === 0;
    // Owned by nobody, a user that is neither the service nor the lease user (only root can give it away).
    if (asRoot) await chown(others, 65534, 65534);
    try {
      await probeSandboxHost();
      expect((await stat(path.join(link, "keep"))).isFile()).toBe(true);
      expect((await stat(path.join(open, "inner"))).isDirectory()).toBe(true);
      if (asRoot) expect((await stat(others)).isDirectory()).toBe(true);
    } finally {
      await Promise.all([link, open, others, target].map((p) => rm(p, { recursive: true, force: true })));
    }
  });
});
