import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DirectoryReaper } from "../../src/sandbox/directory-reaper";
import { LocalSandbox } from "../../src/sandbox/local-sandbox";

/**
 * A lease's directories after its processes are gone (LocalSandbox.removeDirectories): an empty
 * one and a tree of files alike; one that is gone already is no error; and a path swapped for a
 * symlink loses the link, never what it points to. With a trash directory, each is moved there at
 * once and removed by the reaper's thread, which leaves the trash empty; without one (or where the
 * rename fails) it is removed in place.
 */
let base: string;
const sandbox = new LocalSandbox({ unavailable: null, user: null, cgroupRoot: null, readOnlyPaths: [] });
const gone = async (p: string) => expect(stat(p)).rejects.toMatchObject({ code: "ENOENT" });

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), "drydock-removal-"));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe("removing a lease's directories", () => {
  it("removes an empty directory and a tree of files alike, and one already gone is no error", async () => {
    const empty = path.join(base, "empty");
    const tree = path.join(base, "tree");
    await mkdir(empty);
    await mkdir(path.join(tree, "a", "b"), { recursive: true });
    await writeFile(path.join(tree, "a", "b", "file"), "x");
    await writeFile(path.join(tree, "top"), "y");
    await sandbox.removeDirectories(null, empty, tree, path.join(base, "never-made"));
    await gone(empty);
    await gone(tree);
  });

  it("removes a symlink put in a directory's place, and leaves what it points to", async () => {
    const target = path.join(base, "elsewhere");
    await mkdir(target);
    await writeFile(path.join(target, "keep"), "kept");
    const emptyTarget = path.join(base, "elsewhere-empty");
    await mkdir(emptyTarget);
    const swapped = path.join(base, "swapped");
    const swappedToEmpty = path.join(base, "swapped-to-empty");
    await symlink(target, swapped);
    await symlink(emptyTarget, swappedToEmpty);
    await sandbox.removeDirectories(null, swapped, swappedToEmpty);
    await gone(swapped);
    await gone(swappedToEmpty);
    expect(await readdir(target)).toEqual(["keep"]);
    expect((await stat(emptyTarget)).isDirectory()).toBe(true);
  });

  it("moves them to the trash at once, where the reaper removes them, links and trees alike", async () => {
    const root = path.join(base, "resource");
    const trash = path.join(root, "trash");
    const leaseDir = path.join(root, "leases", "ls_1");
    const tmpDir = path.join(root, "tmp", "ls_1");
    await mkdir(path.join(leaseDir, "a", "b"), { recursive: true });
    await writeFile(path.join(leaseDir, "a", "b", "file"), "x");
    await mkdir(tmpDir, { recursive: true });
    const target = path.join(base, "kept-elsewhere");
    await mkdir(target);
    await writeFile(path.join(target, "keep"), "kept");
    const swapped = path.join(root, "leases", "ls_2");
    await symlink(target, swapped);
    // Left in the trash by an earlier process: removed too.
    await mkdir(path.join(trash, "leases-ls_0-1-1"), { recursive: true });
    await writeFile(path.join(trash, "leases-ls_0-1-1", "file"), "x");

    const reaping = new LocalSandbox({ unavailable: null, user: null, cgroupRoot: null, readOnlyPaths: [] });
    await reaping.removeDirectories(trash, leaseDir, tmpDir, swapped, path.join(root, "leases", "never-made"));
    await gone(leaseDir);
    await gone(tmpDir);
    await gone(swapped);
    await reaping.close();
    expect(await readdir(trash)).toEqual([]);
    expect(await readdir(target)).toEqual(["keep"]);
  });

  it("gathers the paths of teardowns close together into one message to the reaper's thread, and drain sends what waits", async () => {
    const trash = path.join(base, "gathered");
    const dirs = ["a", "b", "c"].map((name) => path.join(trash, name));
    for (const dir of dirs) await mkdir(path.join(dir, "inner"), { recursive: true });
    const reaper = new DirectoryReaper();
    // Three teardowns in a row, as leases released together: handed over, not removed yet.
    for (const dir of dirs) reaper.remove(dir);
    expect(reaper.batches).toBe(0);
    expect((await stat(dirs[0]!)).isDirectory()).toBe(true);
    await reaper.drain();
    expect(reaper.batches).toBe(1);
    for (const dir of dirs) await gone(dir);
    // Handed over after the batch went: the next batch, sent when its time comes without drain.
    const later = path.join(trash, "later");
    await mkdir(later);
    reaper.remove(later);
    const deadline = Date.now() + 5_000;
    while (reaper.batches < 2) {
      if (Date.now() > deadline) throw new Error("the second batch was never sent");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await reaper.close();
    await gone(later);
    expect(await readdir(trash)).toEqual([]);
  });

  it("closing sends what waits for its batch, even before the thread has started", async () => {
    const dir = path.join(base, "closing", "x");
    await mkdir(dir, { recursive: true });
    const reaper = new DirectoryReaper();
    reaper.remove(dir);
    await reaper.close();
    await gone(dir);
  });
});
