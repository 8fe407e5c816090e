/**
 * Local adapter of the `filesystem` interface: files under the lease's working directory on
 * this machine. Every path goes through resolveInsideRoot (no absolute paths, no `..`, no
 * symlinks anywhere on the way), and disk errors are mapped to domain errors here so callers
 * never see raw errno codes.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, mkdir, open, readdir, rename, rm, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { DomainError, FileNotFoundError, PathOutsideLeaseError, ValidationError } from "../domain/errors";
import type { FileData, FileEntry, FileRead, FilesystemInterface, ListPage } from "./filesystem-interface";
import { namesOnPage } from "./list-page";
import { exactBody, NO_BYTES } from "./file-read";
import { assertAbsoluteRoot, isErrno, resolveInsideRoot } from "./lease-path";

export interface LocalFilesystemOptions {
  /** The lease's working directory, absolute. */
  root: string;
}

export class LocalFilesystemInterface implements FilesystemInterface {
  private readonly root: string;

  constructor(options: LocalFilesystemOptions) {
    assertAbsoluteRoot(options.root);
    this.root = path.resolve(options.root);
  }

  async openFile(relPath: string): Promise<FileRead> {
    const target = await resolveInsideRoot(this.root, relPath);
    let handle: FileHandle;
    try {
      // O_NOFOLLOW narrows the check-then-open window for the last component (see lease-path);
      // O_NONBLOCK: a FIFO put there must not hold the open (it is refused just below).
      handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      throw mapFsError(err, relPath);
    }
    try {
      const info = await handle.stat();
      if (info.isDirectory()) throw new ValidationError(`is a directory: ${relPath}`, { field: "path", path: relPath });
      if (!info.isFile()) throw new ValidationError(`not a regular file: ${relPath}`, { field: "path", path: relPath });
      const source = info.size === 0 ? NO_BYTES : handle.createReadStream({ start: 0, end: info.size - 1, autoClose: false });
      return { size: info.size, body: exactBody(info.size, source, () => handle.close()) };
    } catch (err) {
      await handle.close();
      throw mapFsError(err, relPath);
    }
  }


  async writeFile(relPath: string, data: FileData): Promise<void> {
    const target = await resolveInsideRoot(this.root, relPath);
    if (target === this.root) {
      throw new ValidationError("cannot write to the lease root", { field: "path", path: relPath });
    }
    const dir = path.dirname(target);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      if (isErrno(err, "ENOTDIR") || isErrno(err, "EEXIST")) {
        throw new ValidationError(`a parent of ${relPath} is not a directory`, { field: "path", path: relPath });
      }
      throw mapFsError(err, relPath);
    }
    // Re-check after mkdir: a component created concurrently could be a symlink by now.
    await resolveInsideRoot(this.root, relPath);

    const existingMode = await modeOfExistingFile(target, relPath);
    // Temp file in the same directory so the rename is atomic (same filesystem): readers see the
    // old content or the new one, never a partial file. Not fsync'd: leases are scratch space,
    // so atomicity matters for readers but crash durability does not.
    const temp = path.join(dir, `.${path.basename(target)}.drydock-${randomBytes(6).toString("hex")}.tmp`);
    try {
      // "wx" (O_EXCL) refuses to open through anything already at the temp name, symlinks included.
      const handle = await open(temp, "wx", existingMode ?? 0o666);
      try {
        // A stream is written chunk by chunk as it arrives (each from where the last ended); its
        // failure ends up below, with the temporary file removed.
        if (data instanceof Uint8Array) await handle.writeFile(data);
        else for await (const chunk of data) await handle.writeFile(chunk);
        // The mode given to open() is filtered by umask; replacing a file keeps its mode exactly
        // (an executable script stays executable).
        if (existingMode !== undefined) await handle.chmod(existingMode);
      } finally {
        await handle.close();
      }
      await rename(temp, target);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw mapFsError(err, relPath);
    }
  }

  async list(relPath: string, page?: ListPage): Promise<FileEntry[]> {
    const target = await resolveInsideRoot(this.root, relPath === "" ? "." : relPath);
    let names: string[];
    try {
      const info = await lstat(target);
      if (!info.isDirectory()) {
        throw new ValidationError(`not a directory: ${relPath}`, { field: "path", path: relPath });
      }
      names = await readdir(target);
    } catch (err) {
      throw mapFsError(err, relPath);
    }
    const entries: FileEntry[] = [];
    for (const name of namesOnPage(names, page)) {
      let info;
      try {
        info = await lstat(path.join(target, name));
      } catch (err) {
        if (isErrno(err, "ENOENT")) continue; // removed between readdir and lstat
        throw err;
      }
      entries.push({
        name,
        type: info.isSymbolicLink() ? "symlink" : info.isDirectory() ? "directory" : info.isFile() ? "file" : "other",
        size: info.size,
        modifiedAt: info.mtime.toISOString(),
      });
    }
    return entries;
  }

  async remove(relPath: string): Promise<void> {
    const target = await resolveInsideRoot(this.root, relPath);
    if (target === this.root) {
      throw new ValidationError("refusing to remove the lease root", { field: "path", path: relPath });
    }
    try {
      await lstat(target);
      // rm does not follow symlinks found inside the tree: it removes the links, not their targets.
      await rm(target, { recursive: true, force: false });
    } catch (err) {
      throw mapFsError(err, relPath);
    }
  }
}

async function modeOfExistingFile(target: string, relPath: string): Promise<number | undefined> {
  try {
    const info = await lstat(target);
    if (info.isDirectory()) {
      throw new ValidationError(`is a directory: ${relPath}`, { field: "path", path: relPath });
    }
    return info.mode & 0o7777;
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    throw mapFsError(err, relPath);
  }
}

function mapFsError(err: unknown, relPath: string): unknown {
  if (err instanceof DomainError) return err;
  // ENOTDIR: some component on the way is a file, so the path names nothing.
  if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return new FileNotFoundError(relPath);
  if (isErrno(err, "EISDIR")) return new ValidationError(`is a directory: ${relPath}`, { field: "path", path: relPath });
  if (isErrno(err, "EEXIST")) {
    return new ValidationError(`a file is in the way: ${relPath}`, { field: "path", path: relPath });
  }
  // O_NOFOLLOW met a symlink that appeared after the check.
  if (isErrno(err, "ELOOP")) return new PathOutsideLeaseError(relPath, "symlinks are not followed");
  return err;
}
