import { readdirSync } from "node:fs";
import type { Kysely } from "kysely";
import { LocalSandbox } from "../../src/sandbox/local-sandbox";
import { cgroupRootUnder, DEFAULT_CGROUP_BASES } from "../../src/sandbox/sandbox-host";
import type { DrydockDatabase } from "../../src/store/schema";

/**
 * Removes the per-lease cgroups of the leases this database holds, ending any process still in
 * one, as a lease's teardown does (LocalSandbox.killAll): what a test database's leases leave when
 * it is dropped while they still live (the service keeps a live lease's cgroup across its own
 * restarts, as it must). Only names this database knows are touched, so a run leaves a service of
 * this machine, or another test file's database, alone. Best effort, as the database's own
 * removal: a failure here must not hide the test's result.
 */
export async function removeLeaseCgroups(db: Kysely<DrydockDatabase>): Promise<void> {
  for (const cgroupRoot of DEFAULT_CGROUP_BASES.map(cgroupRootUnder)) {
    let names: string[];
    try {
      names = readdirSync(cgroupRoot).filter((n) => n.startsWith("ls_"));
    } catch {
      continue;
    }
    const sandbox = new LocalSandbox({ unavailable: null, user: null, cgroupRoot, readOnlyPaths: [] });
    try {
      // In chunks: a machine that ran older suites may hold thousands of names nobody owns now.
      for (let i = 0; i < names.length; i += 1000) {
        const ours = await db.selectFrom("leases").select("lease_id").where("lease_id", "in", names.slice(i, i + 1000)).execute();
        for (const { lease_id } of ours) await sandbox.killAll(lease_id);
      }
    } catch {
      // The database is gone already, or the kernel refused: nothing more to do.
    } finally {
      await sandbox.close();
    }
  }
}
