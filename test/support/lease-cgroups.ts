import { readdirSync, readFileSync, rmdirSync } from "node:fs";
import path from "node:path";
import type { Kysely } from "kysely";
import type { DrydockDatabase } from "../../src/store/schema";

/**
 * Where the service makes its per-lease pids cgroups when it runs as root (sandbox-host.ts's
 * findCgroupRoot, unconfigured): cgroup v1's pids hierarchy, or the v2 root.
 */
const CGROUP_PARENTS = ["/sys/fs/cgroup/pids/drydock", "/sys/fs/cgroup/drydock"];

/**
 * Removes the per-lease cgroups of the leases this database holds, ending any process still in
 * one: what a test database's leases leave when it is dropped while they still live (the
 * service keeps a live lease's cgroup across its own restarts, as it must). Only names this
 * database knows are touched, so a run leaves a service of this machine, or another test file's
 * database, alone. Returns the cgroups still there (a process that would not die).
 */
export async function removeLeaseCgroups(db: Kysely<DrydockDatabase>, parents: readonly string[] = CGROUP_PARENTS): Promise<string[]> {
  const left: string[] = [];
  for (const parent of parents) {
    let names: string[];
    try {
      names = readdirSync(parent).filter((n) => n.startsWith("ls_"));
    } catch {
      continue;
    }
    if (names.length === 0) continue;
    // In chunks: a machine that ran older suites may hold thousands of names nobody owns now.
    for (let i = 0; i < names.length; i += 1000) {
      const ours = await db.selectFrom("leases").select("lease_id").where("lease_id", "in", names.slice(i, i + 1000)).execute();
      for (const { lease_id } of ours) {
        const cgroup = path.join(parent, lease_id);
        if (!(await removedCgroup(cgroup))) left.push(cgroup);
      }
    }
  }
  return left;
}

/** Kills what the cgroup holds and removes it, giving the kernel a moment to reap the processes. */
async function removedCgroup(cgroup: string): Promise<boolean> {
  for (let attempt = 0; attempt < 50; attempt++) {
    for (const pid of pidsOf(cgroup)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    try {
      rmdirSync(cgroup);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return true;
      if ((error as NodeJS.ErrnoException).code !== "EBUSY") return false;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

function pidsOf(cgroup: string): number[] {
  try {
    return readFileSync(path.join(cgroup, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
