/**
 * SFTP adapter of the `filesystem` interface: files under the lease's directory on a remote host,
 * over the lease's pooled SSH connection.
 *
 * Invariants, as in the local adapter:
 * - every path goes through resolveRemoteInsideRoot (relative, no `..`, no symlink on the way);
 * - bytes go through untouched (Buffers end to end, no encoding);
 * - a write goes to a temporary file in the same directory, then is renamed over the target
 *   (OpenSSH's posix-rename), so readers see the old content or the new, never a partial file;
 *   a replaced file keeps its mode;
 * - remove never follows a symlink inside the tree: links are unlinked, their targets untouched;
 * - SFTP status codes become domain errors here.
 */
import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import type { SFTPWrapper, Stats } from "ssh2";
import { DomainError, FileNotFoundError, PathOutsideLeaseError, ValidationError } from "../domain/errors";
import type { FileData, FileEntry, FileRead, FilesystemInterface, ListPage } from "./filesystem-interface";
import { namesOnPage } from "./list-page";
import { exactBody } from "./file-read";
import { assertRemoteRoot, remoteSegments, resolveRemoteInsideRoot } from "./remote-path";
import * as ops from "./sftp-ops";
import type { SessionRunner } from "./ssh-connections";

export interface SftpFilesystemOptions {
  /** The lease's directory on the host, absolute. */
  root: string;
  session: SessionRunner;
}

export class SftpFilesystemInterface implements FilesystemInterface {
  private readonly root: string;
  private readonly session: SessionRunner;

  constructor(options: SftpFilesystemOptions) {
    assertRemoteRoot(options.root);
    this.root = posix.normalize(options.root);
    this.session = options.session;
  }

  private sftp<T>(relPath: string, fn: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    return this.session(async (s) => {
      const sftp = await s.sftp();
      try {
        return await fn(sftp);
      } catch (err) {
        throw mapSftpError(err, relPath);
      }
    });
  }

  /**
   * Opens the file on the lease's connection, which stays in use (not closed as idle) until the
   * body is read to its end or cancelled; the bytes come a chunk (READ_CHUNK) at a time, as the
   * reader asks for them.
   */
  openFile(relPath: string): Promise<FileRead> {
    return new Promise<FileRead>((opened, failed) => {
      let answered = false;
      this.sftp(relPath, async (sftp) => {
        const target = await resolveRemoteInsideRoot(sftp, this.root, relPath);
        if (!target.stats) throw new FileNotFoundError(relPath);
        if (target.stats.isDirectory()) throw new ValidationError(`is a directory: ${relPath}`, { field: "path", path: relPath });
        if (!target.stats.isFile()) throw new ValidationError(`not a regular file: ${relPath}`, { field: "path", path: relPath });
        const handle = await ops.open(sftp, target.path, "r", 0);
        let size: number;
        try {
          size = (await ops.fstat(sftp, handle)).size;
        } catch (error) {
          await ops.close(sftp, handle).catch(() => undefined);
          throw error;
        }
        let ended!: () => void;
        const body = new Promise<void>((resolve) => (ended = resolve));
        answered = true;
        opened({ size, body: exactBody(size, chunksOf(sftp, handle, size), () => ops.close(sftp, handle).catch(() => undefined).then(ended)) });
        await body;
      }).catch((error: unknown) => {
        if (!answered) failed(error);
      });
    });
  }


  writeFile(relPath: string, data: FileData): Promise<void> {
    return this.sftp(relPath, async (sftp) => {
      const segments = remoteSegments(relPath);
      if (segments.length === 0) throw new ValidationError("cannot write to the lease root", { field: "path", path: relPath });
      const dir = await this.makeParents(sftp, segments, relPath);
      const target = posix.join(dir, segments.at(-1)!);
      // Re-checked after the parents exist: one made concurrently could be a symlink by now.
      const existing = (await resolveRemoteInsideRoot(sftp, this.root, relPath)).stats;
      if (existing?.isDirectory()) throw new ValidationError(`is a directory: ${relPath}`, { field: "path", path: relPath });
      const mode = existing ? existing.mode & 0o7777 : 0o644;
      const temp = posix.join(dir, `.${segments.at(-1)}.drydock-${randomBytes(6).toString("hex")}.tmp`);
      // "wx" (O_EXCL) never opens through something already at the temporary name.
      const handle = await ops.open(sftp, temp, "wx", mode);
      try {
        try {
          // A stream is written as it arrives, each chunk after the last; its failure ends up below.
          let position = 0;
          for await (const chunk of data instanceof Uint8Array ? [data] : data) {
            await ops.writeAt(sftp, handle, Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), position);
            position += chunk.byteLength;
          }
          // The server applies its umask to open()'s mode; a replaced file keeps its mode exactly.
          if (existing) await ops.fchmod(sftp, handle, mode);
        } finally {
          await ops.close(sftp, handle);
        }
        await ops.replace(sftp, temp, target);
      } catch (err) {
        await ops.unlink(sftp, temp).catch(() => undefined);
        throw err;
      }
    });
  }

  list(relPath: string, page?: ListPage): Promise<FileEntry[]> {
    return this.sftp(relPath, async (sftp) => {
      const target = await resolveRemoteInsideRoot(sftp, this.root, relPath);
      if (!target.stats) throw new FileNotFoundError(relPath || ".");
      if (!target.stats.isDirectory()) throw new ValidationError(`not a directory: ${relPath}`, { field: "path", path: relPath });
      // OpenSSH's readdir reports each entry as lstat sees it, so a link shows as a link.
      const found = new Map((await ops.readdir(sftp, target.path)).filter((e) => e.filename !== "." && e.filename !== "..").map((e) => [e.filename, e.attrs]));
      return namesOnPage([...found.keys()], page).map((name) => {
        const attrs = found.get(name)!;
        return { name, type: typeOf(attrs), size: attrs.size, modifiedAt: new Date(attrs.mtime * 1000).toISOString() };
      });
    });
  }

  remove(relPath: string): Promise<void> {
    return this.sftp(relPath, async (sftp) => {
      const target = await resolveRemoteInsideRoot(sftp, this.root, relPath);
      if (target.isRoot) throw new ValidationError("refusing to remove the lease root", { field: "path", path: relPath });
      if (!target.stats) throw new FileNotFoundError(relPath);
      await removeTree(sftp, target.path, target.stats);
    });
  }

  /** Creates the parent directories of a path, refusing symlinks and files on the way; returns the last. */
  private async makeParents(sftp: SFTPWrapper, segments: readonly string[], relPath: string): Promise<string> {
    let current = this.root;
    for (const segment of segments.slice(0, -1)) {
      current = posix.join(current, segment);
      let stats = await ops.lstatOrNull(sftp, current);
      if (stats === null) {
        try {
          await ops.mkdir(sftp, current);
          continue;
        } catch (err) {
          // Made by someone else meanwhile: look at what is there now.
          stats = await ops.lstatOrNull(sftp, current);
          if (stats === null) throw err;
        }
      }
      if (stats.isSymbolicLink()) throw new PathOutsideLeaseError(relPath, "symlinks are not followed");
      if (!stats.isDirectory()) throw new ValidationError(`a parent of ${relPath} is not a directory`, { field: "path", path: relPath });
    }
    return current;
  }
}

async function removeTree(sftp: SFTPWrapper, path: string, stats: Stats): Promise<void> {
  if (!stats.isDirectory()) {
    await ops.unlink(sftp, path);
    return;
  }
  for (const entry of await ops.readdir(sftp, path)) {
    if (entry.filename === "." || entry.filename === "..") continue;
    await removeTree(sftp, posix.join(path, entry.filename), entry.attrs);
  }
  await ops.rmdir(sftp, path);
}

function typeOf(stats: Stats): FileEntry["type"] {
  if (stats.isSymbolicLink()) return "symlink";
  if (stats.isDirectory()) return "directory";
  if (stats.isFile()) return "file";
  return "other";
}

function mapSftpError(err: unknown, relPath: string): unknown {
  if (err instanceof DomainError) return err;
  switch (ops.sftpCode(err)) {
    case ops.SFTP_NO_SUCH_FILE:
      return new FileNotFoundError(relPath);
    case ops.SFTP_PERMISSION_DENIED:
      return new ValidationError(`permission denied on the host: ${relPath}`, { field: "path", path: relPath });
    default:
      return err;
  }
}

/** Bytes an SFTP read asks for at once: what every SFTP server answers whole. */
const READ_CHUNK = 32 * 1024;

async function* chunksOf(sftp: SFTPWrapper, handle: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let position = 0; position < size; ) {
    const bytes = await ops.read(sftp, handle, Math.min(READ_CHUNK, size - position), position);
    // Nothing at a position below the size: the file shrank (exactBody says so).
    if (bytes.length === 0) return;
    position += bytes.length;
    yield bytes;
  }
}
