/**
 * Confinement of lease-relative paths to the lease's working directory (the "root").
 *
 * Shared by the local command adapter (for `cwd`) and the local filesystem adapter.
 *
 * Invariants of a path accepted here:
 * - it is relative, non-empty, has no NUL byte and no `..` segment (checked on the text, before
 *   anything touches the disk, so `a/../b` is refused even though it would stay inside);
 * - no existing component below the root, the last one included, is a symlink. Symlinks are
 *   never followed, rather than followed-and-checked, so a link's target cannot matter.
 * The root itself is trusted as given (it may itself live under a symlink such as macOS /tmp).
 *
 * Known limit: this is a check-then-use. Something running inside the lease at the same time
 * could swap a checked directory for a symlink before the caller opens the path. Callers narrow
 * the window where it is cheap (O_NOFOLLOW on the last component); closing it fully would need
 * openat()-style walking, which Node does not offer.
 */
import { lstat } from "node:fs/promises";
import path from "node:path";
import { PathOutsideLeaseError, ValidationError } from "../domain/errors";

const MAX_PATH_BYTES = 1024;
const MAX_NAME_BYTES = 255;

/** The components of a lease-relative path, after the textual checks; [] means the root. */
export function splitLeasePath(relPath: string): string[] {
  if (typeof relPath !== "string" || relPath.length === 0) {
    throw new ValidationError("path must be a non-empty relative path", { field: "path" });
  }
  if (relPath.includes("\0")) {
    throw new PathOutsideLeaseError(relPath, "contains a NUL byte");
  }
  if (relPath.startsWith("/")) {
    throw new PathOutsideLeaseError(relPath, "absolute paths are not allowed");
  }
  const segments = relPath.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) {
    throw new PathOutsideLeaseError(relPath, "`..` segments are not allowed");
  }
  // The file system's own limits, checked here so a long name is the client's 400, not a
  // ENAMETOOLONG from deep inside an adapter.
  if (Buffer.byteLength(relPath) > MAX_PATH_BYTES || segments.some((s) => Buffer.byteLength(s) > MAX_NAME_BYTES)) {
    throw new ValidationError(`path: longer than ${MAX_PATH_BYTES} bytes or a name longer than ${MAX_NAME_BYTES} bytes`, { field: "path" });
  }
  return segments;
}

export function assertAbsoluteRoot(root: string): void {
  if (typeof root !== "string" || !path.isAbsolute(root)) {
    throw new ValidationError("lease root must be an absolute path", { field: "root" });
  }
}

/**
 * Resolves `relPath` under `root` and returns the absolute path. Components that do not exist
 * yet are allowed (a write may create them); the walk stops at the first missing one, since
 * nothing below a missing directory can be a symlink.
 */
export async function resolveInsideRoot(root: string, relPath: string): Promise<string> {
  assertAbsoluteRoot(root);
  const segments = splitLeasePath(relPath);
  let current = path.resolve(root);
  for (const segment of segments) {
    current = path.join(current, segment);
    let isLink: boolean;
    try {
      isLink = (await lstat(current)).isSymbolicLink();
    } catch (err) {
      // ENOTDIR: an earlier component is a file; the caller's operation reports it.
      if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) break;
      throw err;
    }
    if (isLink) throw new PathOutsideLeaseError(relPath, "symlinks are not followed");
  }
  // path.join above cannot climb out (no `..` segments), so this only documents the invariant.
  const base = path.resolve(root);
  const resolved = path.join(base, ...segments);
  const back = path.relative(base, resolved);
  if (path.isAbsolute(back) || back.split(path.sep)[0] === "..") {
    throw new PathOutsideLeaseError(relPath, "resolves outside the lease");
  }
  return resolved;
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as NodeJS.ErrnoException).code === code;
}
