import { getLease, type LeaseRecord } from "../../src/queries/lease-queries";
import type { Drydock } from "../../src/service/drydock";

/** Waits (through NOTIFY, not a sleep loop) until a lease reaches one of `statuses`. */
export async function waitForLeaseStatus(drydock: Drydock, leaseId: string, statuses: readonly string[], timeoutMs = 20_000): Promise<LeaseRecord> {
  const result = await drydock.watcher.waitFor(
    `lease-${leaseId}`,
    async () => {
      const lease = await getLease(drydock.database.db, leaseId);
      return statuses.includes(lease.status) ? lease : undefined;
    },
    timeoutMs,
  );
  if (!result) {
    const lease = await getLease(drydock.database.db, leaseId);
    throw new Error(`lease ${leaseId} did not reach ${statuses.join("/")} in ${timeoutMs} ms; it is ${lease.status} (${lease.waitReason ?? lease.endReason ?? ""})`);
  }
  return result;
}
