import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileNotFoundError, PathOutsideLeaseError, ValidationError } from "../../src/domain/errors";
import { resolveInsideRoot } from "../../src/interfaces/lease-path";
import { LocalFilesystemInterface } from "../../src/interfaces/local-filesystem";
import { readWholeFile } from "../support/read-whole-file";

let base: string;
let root: string;
let outside: string;
let files: LocalFilesystemInterface;
const text = (s: string) => new TextEncoder().encode(s);

beforeEach(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), "drydock-fs-"));
  root = path.join(base, "lease");
  outside = path.join(base, "outside");
  await mkdir(root);
  await mkdir(outside);
  await writeFile(path.join(outside, "secret.txt"), "do not read");
  files = new LocalFilesystemInterface({ root });
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

describe("LocalFilesystemInterface", () => {
  it("round-trips all 256 byte values", async () => {
    const bytes = new Uint8Array(256).map((_, i) => i);
    await files.writeFile("bin.dat", bytes);
    expect(Buffer.from(await readWholeFile(files, "bin.dat")).equals(Buffer.from(bytes))).toBe(true);
    expect((await readFile(path.join(root, "bin.dat"))).length).toBe(256);
  });

  it("creates parent directories and replaces existing files, keeping their mode", async () => {
    await files.writeFile("a/b/c/note.txt", text("one"));
    await chmod(path.join(root, "a/b/c/note.txt"), 0o755);
    await files.writeFile("a/b/c/note.txt", text("two"));
    expect(await readFile(path.join(root, "a/b/c/note.txt"), "utf8")).toBe("two");
    expect((await stat(path.join(root, "a/b/c/note.txt"))).mode & 0o777).toBe(0o755);
    // No temp files are left behind by the atomic write.
    expect(await readdir(path.join(root, "a/b/c"))).toEqual(["note.txt"]);
  });

  it("lists a directory sorted by name, with types, sizes and ISO times", async () => {
    await files.writeFile("dir/b.txt", text("bb"));
    await files.writeFile("dir/a.txt", text("a"));
    await files.writeFile("dir/sub/x", text(""));
    await symlink("/etc", path.join(root, "dir", "link"));
    const entries = await files.list("dir");
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ["a.txt", "file"],
      ["b.txt", "file"],
      ["link", "symlink"],
      ["sub", "directory"],
    ]);
    expect(entries[1]!.size).toBe(2);
    expect(new Date(entries[0]!.modifiedAt).toISOString()).toBe(entries[0]!.modifiedAt);
    expect((await files.list(".")).map((e) => e.name)).toEqual(["dir"]);
    expect((await files.list("")).map((e) => e.name)).toEqual(["dir"]);
  });

  it("removes a file and a directory tree", async () => {
    await files.writeFile("f.txt", text("x"));
    await files.writeFile("tree/a/b.txt", text("y"));
    await files.remove("f.txt");
    await files.remove("tree");
    expect(await readdir(root)).toEqual([]);
  });

  it("does not follow symlinks inside a removed tree", async () => {
    await files.writeFile("tree/file", text("y"));
    await symlink(outside, path.join(root, "tree", "out-link"));
    await files.remove("tree");
    expect(await readFile(path.join(outside, "secret.txt"), "utf8")).toBe("do not read");
  });

  it("refuses to remove the lease root", async () => {
    await expect(files.remove(".")).rejects.toBeInstanceOf(ValidationError);
    expect((await stat(root)).isDirectory()).toBe(true);
  });

  it("reports missing files as FileNotFoundError", async () => {
    await expect(readWholeFile(files, "missing.txt")).rejects.toBeInstanceOf(FileNotFoundError);
    await expect(readWholeFile(files, "no/such/dir/file")).rejects.toBeInstanceOf(FileNotFoundError);
    await expect(files.list("missing-dir")).rejects.toBeInstanceOf(FileNotFoundError);
    await expect(files.remove("missing.txt")).rejects.toBeInstanceOf(FileNotFoundError);
    await files.writeFile("file", text("x"));
    await expect(readWholeFile(files, "file/inside")).rejects.toBeInstanceOf(FileNotFoundError);
  });

  it("refuses paths that leave the lease", async () => {
    for (const p of ["../outside/secret.txt", "/etc/passwd", "a/../../x", "..", "a/..", "x\0y"]) {
      await expect(readWholeFile(files, p)).rejects.toBeInstanceOf(PathOutsideLeaseError);
      await expect(files.writeFile(p, text("x"))).rejects.toBeInstanceOf(PathOutsideLeaseError);
      await expect(files.list(p)).rejects.toBeInstanceOf(PathOutsideLeaseError);
      await expect(files.remove(p)).rejects.toBeInstanceOf(PathOutsideLeaseError);
    }
    expect(await readdir(base)).toEqual(["lease", "outside"].sort());
  });

  it("refuses a symlink as the last component, for read, write, list and remove", async () => {
    await symlink("/etc/passwd", path.join(root, "passwd"));
    await symlink(path.join(outside, "secret.txt"), path.join(root, "secret"));
    await expect(readWholeFile(files, "passwd")).rejects.toThrow(/symlinks are not followed/);
    await expect(files.writeFile("secret", text("overwritten"))).rejects.toBeInstanceOf(PathOutsideLeaseError);
    await expect(files.remove("secret")).rejects.toBeInstanceOf(PathOutsideLeaseError);
    expect(await readFile(path.join(outside, "secret.txt"), "utf8")).toBe("do not read");
  });

  it("refuses a symlinked directory component, for read, write and list", async () => {
    await symlink("/etc", path.join(root, "etc"));
    await symlink(outside, path.join(root, "out"));
    await files.writeFile("real/file", text("ok"));
    await symlink(path.join(root, "real"), path.join(root, "inner-link"));
    await expect(readWholeFile(files, "etc/passwd")).rejects.toBeInstanceOf(PathOutsideLeaseError);
    await expect(files.list("etc")).rejects.toBeInstanceOf(PathOutsideLeaseError);
    await expect(files.writeFile("out/new.txt", text("x"))).rejects.toBeInstanceOf(PathOutsideLeaseError);
    await expect(files.writeFile("out/deep/new.txt", text("x"))).rejects.toBeInstanceOf(PathOutsideLeaseError);
    await expect(files.remove("out/secret.txt")).rejects.toBeInstanceOf(PathOutsideLeaseError);
    // Even a link that stays inside the lease is refused: links are never followed.
    await expect(readWholeFile(files, "inner-link/file")).rejects.toBeInstanceOf(PathOutsideLeaseError);
    expect((await readdir(outside)).sort()).toEqual(["secret.txt"]);
  });

  it("refuses writing over a directory and writing under a file", async () => {
    await files.writeFile("d/x", text("x"));
    await expect(files.writeFile("d", text("x"))).rejects.toBeInstanceOf(ValidationError);
    await expect(files.writeFile("d/x/y", text("x"))).rejects.toBeInstanceOf(ValidationError);
    await expect(files.list("d/x")).rejects.toBeInstanceOf(ValidationError);
  });
});

describe("resolveInsideRoot", () => {
  it("resolves relative paths under the root", async () => {
    expect(await resolveInsideRoot(root, "a/b")).toBe(path.join(root, "a", "b"));
    expect(await resolveInsideRoot(root, "./a//b/")).toBe(path.join(root, "a", "b"));
    expect(await resolveInsideRoot(root, ".")).toBe(root);
  });

  it("refuses empty paths and relative roots", async () => {
    await expect(resolveInsideRoot(root, "")).rejects.toBeInstanceOf(ValidationError);
    await expect(resolveInsideRoot("relative/root", "a")).rejects.toBeInstanceOf(ValidationError);
  });
});
