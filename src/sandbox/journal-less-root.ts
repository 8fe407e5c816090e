import { readdir, readFile, readlink, realpath } from "node:fs/promises";
import path from "node:path";

/**
 * Whether the local host's lease directories live on ext4 without a journal, where each lease
 * costs far more than elsewhere: making a directory there steps over every inode freed in the last
 * seconds (`find_inode_bit` in the kernel's fs/ext4/ialloc.c checks recently deleted inodes only
 * when the filesystem has no journal), and a host that ends hundreds of leases a second frees two
 * a lease. At 32 clients on such a root, the lease's directories took a third of the cycles a
 * second the service could serve (bench/README.md, 2026-12-04, late evening). The
 * service says so once at start, so an operator can move the root.
 */

export interface Mount {
  mountPoint: string;
  /** The device's `major:minor`, as /sys/dev/block names it. */
  device: string;
  fsType: string;
}

/** The mounts of /proc/self/mountinfo (proc(5)): the mount point is field 5, the type follows the " - " separator. */
export function parseMountInfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split("\n")) {
    const [before, after] = line.split(" - ");
    if (!before || !after) continue;
    const fields = before.split(" ");
    const fsType = after.split(" ")[0];
    if (fields.length < 5 || !fsType) continue;
    mounts.push({ mountPoint: unescapeOctal(fields[4]!), device: fields[2]!, fsType });
  }
  return mounts;
}

/** The mount `dir` (an absolute, resolved path) is on: the last mounted of those with the longest mount point above it. */
export function mountOf(dir: string, mounts: readonly Mount[]): Mount | null {
  let found: Mount | null = null;
  for (const mount of mounts) {
    const above = mount.mountPoint === "/" || dir === mount.mountPoint || dir.startsWith(`${mount.mountPoint}/`);
    if (above && (!found || mount.mountPoint.length >= found.mountPoint.length)) found = mount;
  }
  return found;
}

/** An ext4 filesystem has a journal when the kernel runs jbd2 for it: /proc/fs/jbd2/<device>-<journal inode>. */
export function hasJournal(blockName: string, jbd2Entries: readonly string[]): boolean {
  return jbd2Entries.some((entry) => entry.startsWith(`${blockName}-`));
}

export interface JournalLessRoot {
  mountPoint: string;
  /** The kernel's name of the block device (vda, dm-0). */
  blockName: string;
}

/**
 * The ext4 mount without a journal that `dir` (or, while it does not exist yet, its nearest
 * ancestor that does) is on; null on any other filesystem, or where the kernel's files cannot say
 * (not Linux, no /proc). `root` stands for / (the tests give a tree of their own).
 */
export async function journalLessRoot(dir: string, root = "/"): Promise<JournalLessRoot | null> {
  try {
    const at = (p: string) => path.join(root, p);
    const mount = mountOf(await nearestExisting(path.resolve(dir)), parseMountInfo(await readFile(at("proc/self/mountinfo"), "utf8")));
    if (!mount || mount.fsType !== "ext4") return null;
    const blockName = path.basename(await readlink(at(`sys/dev/block/${mount.device}`)));
    const jbd2 = await readdir(at("proc/fs/jbd2")).catch(() => [] as string[]);
    return hasJournal(blockName, jbd2) ? null : { mountPoint: mount.mountPoint, blockName };
  } catch {
    return null;
  }
}

async function nearestExisting(dir: string): Promise<string> {
  for (let at = dir; ; at = path.dirname(at)) {
    try {
      return await realpath(at);
    } catch (error) {
      if (path.dirname(at) === at) throw error;
    }
  }
}

/** mountinfo writes space, tab, newline and backslash in a path as \040, \011, \012 and \134. */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
