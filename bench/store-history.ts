/**
 * Finished leases on a local-host resource, for bench/lease-cycle's `--history`: each lease its
 * whole lifecycle in one stream, appended a batch at a time through the store (its legality
 * checks and projections included); a slot is taken and freed within the batch, in log order, as
 * the live capacity rules require.
 *
 * Run as a script (`--history-in process`) it stores them from a process of its own, on
 * PostgreSQL, as other service processes' leases would be, so that the service the bench
 * measures afterwards has not run those appends through its own code:
 *
 *   npx tsx bench/store-history.ts <postgres url> <leases>
 */
import { pathToFileURL } from "node:url";
import { randomIds } from "../src/domain/ids";
import { systemClock } from "../src/domain/clock";
import { createEventStore } from "../src/store/create-event-store";
import { openDatabase, type Database } from "../src/store/database";
import type { EventStore } from "../src/store/event-store";

export async function storeHistory(database: Database, store: EventStore, count: number): Promise<void> {
  const resource = await database.db.selectFrom("resources").select(["resource_id", "blueprint_id"]).where("status", "=", "active").executeTakeFirstOrThrow();
  const batch = 500;
  for (let done = 0; done < count; done += batch) {
    const appends = Array.from({ length: Math.min(batch, count - done) }, () => {
      const leaseId = randomIds.next("lease");
      const data = (type: string, d: unknown) => ({ type, data: d });
      return {
        streamId: `lease-${leaseId}`,
        expectedVersion: 0,
        events: [
          data("LeaseRequested", { leaseId, resourceType: "host", attributes: {}, blueprintIds: null, owner: "history", ownerResourceId: null, ttlSeconds: 3600, expiresAt: null, authorizingObject: null, ttlSource: "request" }),
          data("AllocationAttempted", { attempt: 1, decision: "acquire", candidates: [], summary: "history", durationMs: 0 }),
          data("LeaseAcquired", { resourceId: resource.resource_id, blueprintId: resource.blueprint_id, slot: 0, locks: [`resource:${resource.resource_id}:slot:0`] }),
          data("LeaseActivated", { workingDirectory: null }),
          data("LeaseReleased", { reason: "requested", detail: null }),
          data("LeaseDestroyed", { cleanupError: null }),
        ],
      };
    });
    await store.appendMany(appends, { actor: "bench-history" });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [url, count] = process.argv.slice(2);
  if (!url || !(Number(count) > 0)) throw new Error("usage: tsx bench/store-history.ts <postgres url> <leases>");
  const database = await openDatabase({ url });
  await storeHistory(database, createEventStore(database, systemClock), Number(count));
  await database.close();
}
