import { lstat, readlink } from "node:fs/promises";
import path from "node:path";

/**
 * The read-only system paths as the sandbox mounts them: a real directory is bound, a symlink
 * (merged /usr: /bin -> usr/bin) is recreated as the same symlink, a missing one is left out.
 */
export async function readOnlyPathEntries(paths: readonly string[]): Promise<{ path: string; symlinkTo?: string }[]> {
  const entries: { path: string; symlinkTo?: string }[] = [];
  for (const p of paths) {
    if (!path.isAbsolute(p)) throw new Error(`read-only sandbox paths must be absolute: ${p}`);
    const info = await lstat(p).catch(() => null);
    if (!info) continue;
    entries.push(info.isSymbolicLink() ? { path: p, symlinkTo: await readlink(p) } : { path: p });
  }
  return entries;
}
