import { spawnSync } from "node:child_process";
import { mkdir, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { probeSandboxHost } from "../../src/sandbox/sandbox-host";

/**
 * The start-up probe runs `true` in a sandbox over a directory of /tmp; it must leave nothing
 * there (it used to leave one at every start: bwrap makes the lease directory's mount point
 * inside it). It also removes what probes of processes that are gone left, and never touches a
 * running process's.
 */
const mine = async () => (await readdir("/tmp")).filter((name) => name.startsWith(`drydock-sandbox-probe-${process.pid}-`));

describe.runIf(process.platform === "linux")("the sandbox probe at start", () => {
  it("leaves no directory in /tmp, whether the sandbox works or not", async () => {
    const host = await probeSandboxHost();
    expect(await mine()).toEqual([]);
    // The probe ran bwrap where this machine has it (CI installs it): the case that left one.
    if (spawnSync("bwrap", ["--version"]).status === 0) expect(host.unavailable).toBeNull();
  });

  it("removes a gone process's leftover, with what is in it, and keeps a running one's", async () => {
    // A pid that was just in use and is not any more.
    const gonePid = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" }).stdout.trim();
    const gone = path.join("/tmp", `drydock-sandbox-probe-${gonePid}-1796417130532`);
    await mkdir(path.join(gone, path.basename(gone)), { recursive: true });
    const running = path.join("/tmp", `drydock-sandbox-probe-${process.ppid}-left`);
    await mkdir(running, { recursive: true });
    try {
      await probeSandboxHost();
      await expect(stat(gone)).rejects.toMatchObject({ code: "ENOENT" });
      expect((await stat(running)).isDirectory()).toBe(true);
    } finally {
      await import("node:fs/promises").then((fs) => Promise.all([fs.rm(gone, { recursive: true, force: true }), fs.rm(running, { recursive: true, force: true })]));
    }
  });
});
