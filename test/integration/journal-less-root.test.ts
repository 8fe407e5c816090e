import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { journalLessRoot } from "../../src/sandbox/journal-less-root";

/**
 * journalLessRoot reads the kernel's own files (/proc/self/mountinfo, /sys/dev/block, /proc/fs/jbd2):
 * here from a tree laid out as the kernel lays them out, so each case is one this test controls,
 * whatever this machine's filesystems are. The local root itself is a real directory (or not yet one).
 */
let base: string;
let kernel: string;
let localRoot: string;

async function kernelTree(mountinfo: string, blocks: Record<string, string>, jbd2: string[] | null): Promise<void> {
  await rm(kernel, { recursive: true, force: true });
  await mkdir(path.join(kernel, "proc/self"), { recursive: true });
  await mkdir(path.join(kernel, "sys/dev/block"), { recursive: true });
  await writeFile(path.join(kernel, "proc/self/mountinfo"), mountinfo);
  for (const [device, name] of Object.entries(blocks)) await symlink(`../../devices/virtual/block/${name}`, path.join(kernel, "sys/dev/block", device));
  if (jbd2) {
    await mkdir(path.join(kernel, "proc/fs/jbd2"), { recursive: true });
    for (const entry of jbd2) await mkdir(path.join(kernel, "proc/fs/jbd2", entry));
  }
}

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), "drydock-journal-"));
  kernel = path.join(base, "kernel");
  localRoot = path.join(base, "home", "local-host");
  await mkdir(localRoot, { recursive: true });
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

const rootLine = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw";

describe("is the local host's root on ext4 without a journal", () => {
  it("says so, naming the mount and the device, when jbd2 runs for no such device", async () => {
    await kernelTree(`${rootLine}\n`, { "254:0": "vda" }, []);
    expect(await journalLessRoot(localRoot, kernel)).toEqual({ mountPoint: "/", blockName: "vda" });
    // No /proc/fs/jbd2 at all: no journal anywhere.
    await kernelTree(`${rootLine}\n`, { "254:0": "vda" }, null);
    expect(await journalLessRoot(localRoot, kernel)).toEqual({ mountPoint: "/", blockName: "vda" });
  });

  it("is quiet when the filesystem has a journal, or is not ext4", async () => {
    await kernelTree(`${rootLine}\n`, { "254:0": "vda" }, ["vda-8"]);
    expect(await journalLessRoot(localRoot, kernel)).toBeNull();
    await kernelTree("22 1 254:0 / / rw - xfs /dev/vda rw\n", { "254:0": "vda" }, []);
    expect(await journalLessRoot(localRoot, kernel)).toBeNull();
  });

  it("judges the mount the root is on, and a root not made yet by its nearest existing parent", async () => {
    const home = path.join(base, "home");
    await kernelTree(`${rootLine}\n30 22 254:16 / ${home} rw - ext4 /dev/vdb rw\n`, { "254:0": "vda", "254:16": "vdb" }, ["vda-8"]);
    expect(await journalLessRoot(localRoot, kernel)).toEqual({ mountPoint: home, blockName: "vdb" });
    expect(await journalLessRoot(path.join(localRoot, "not", "made", "yet"), kernel)).toEqual({ mountPoint: home, blockName: "vdb" });
    // The same root on the journaled one: quiet.
    expect(await journalLessRoot(path.join(base, "elsewhere"), kernel)).toBeNull();
  });

  it("is quiet where the kernel's files cannot tell (no mountinfo)", async () => {
    await rm(kernel, { recursive: true, force: true });
    expect(await journalLessRoot(localRoot, kernel)).toBeNull();
  });
});
