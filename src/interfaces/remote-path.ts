/**
 * Confinement of lease-relative paths to the lease's directory on a remote host, over SFTP.
 *
 * The same rules as the local adapter (lease-path.ts), checked the same way: the text first
 * (relative, no `..`, no NUL), then every existing component below the root is lstat'ed and a
 * symlink anywhere is refused, never followed. The same known limit applies: it is a
 * check-then-use, and SFTP has no O_NOFOLLOW to narrow the window for the last component.
 */
import { posix } from "node:path";
import type { SFTPWrapper, Stats } from "ssh2";
import { PathOutsideLeaseError, ValidationError } from "../domain/errors";
import { splitLeasePath } from "./lease-path";
import { lstatOrNull } from "./sftp-ops";

export interface RemotePath {
  /** Absolute path on the host. */
  path: string;
  /** lstat of the path itself; null when it does not exist (or a parent is not a directory). */
  stats: Stats | null;
  /** True for the lease root itself. */
  isRoot: boolean;
}

export function assertRemoteRoot(root: string): void {
  if (typeof root !== "string" || !root.startsWith("/") || root.includes("\0")) {
    throw new ValidationError("remote lease root must be an absolute path", { field: "root" });
  }
}

/** `""` and `"."` mean the root; anything else must pass splitLeasePath. */
export function remoteSegments(relPath: string): string[] {
  return relPath === "" || relPath === "." ? [] : splitLeasePath(relPath);
}

export async function resolveRemoteInsideRoot(sftp: SFTPWrapper, root: string, relPath: string): Promise<RemotePath> {
  assertRemoteRoot(root);
  const segments = remoteSegments(relPath);
  const full = posix.join(root, ...segments);
  if (segments.length === 0) return { path: full, stats: await lstatOrNull(sftp, root), isRoot: true };
  let current = root;
  let stats: Stats | null = null;
  for (const [i, segment] of segments.entries()) {
    current = posix.join(current, segment);
    stats = await lstatOrNull(sftp, current);
    // Nothing below a missing component can be a symlink.
    if (stats === null) return { path: full, stats: null, isRoot: false };
    if (stats.isSymbolicLink()) throw new PathOutsideLeaseError(relPath, "symlinks are not followed");
    // A file in the middle: the path names nothing (the caller reports not found).
    if (i < segments.length - 1 && !stats.isDirectory()) return { path: full, stats: null, isRoot: false };
  }
  return { path: full, stats, isRoot: false };
}
