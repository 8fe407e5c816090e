import { streamIdOf } from "../../events/envelope";
import type { PreparedLeaseRequest } from "../commands/lease-commands";
import { getLease, type LeaseRecord } from "../queries/lease-queries";
import type { Drydock } from "../service/drydock";
import { recentActiveLease } from "./recent-lease";

/** Statuses a waiting client stops at: the lease is usable, or it never will be. */
const SETTLED = new Set(["active", "broken", "released", "destroyed"]);
/** A few steps take a fresh lease to active (allocate, acquire, activate); more means waiting on something else. */
const FAST_PATH_STEPS = 5;

export function isSettled(lease: LeaseRecord): boolean {
  return SETTLED.has(lease.status);
}

/**
 * Waits up to `waitSeconds` for the lease to settle and returns it as it then is.
 *
 * Fast path first: run the lease's due work in this request rather than waiting for a worker to
 * notice it. A lease this request asks for (`requested`, not stored yet) is decided on here and
 * stored in one transaction with that decision; its next steps run here too while they are due at
 * once, with no claim to take and no worker woken (AllocatorWorker.runClaimedSteps). An existing
 * lease's item is claimed like any worker's (runNow), so it never races one. When that stops
 * making progress (the resource is still being built, or another worker holds the item), wait
 * for the lease stream to change.
 */
export async function waitForLease(
  drydock: Drydock,
  leaseId: string,
  waitSeconds: number,
  signal?: AbortSignal,
  fastPath?: Pick<PreparedLeaseRequest, "requested" | "requestedAt" | "snapshot">,
): Promise<LeaseRecord> {
  const db = drydock.database.db;
  const streamId = streamIdOf("lease", leaseId);
  if (fastPath) {
    const { requested, requestedAt, snapshot } = fastPath;
    const claim = { ...drydock.worker.newClaim(), streamId };
    // A step that fails here keeps its claim as the retry delay, and a worker runs it then; the
    // request itself is stored whatever happens (runClaimedSteps). It is stored at the time its
    // place in the queue was read at (the snapshot's), which its expiry counts from too.
    await drydock.worker.runClaimedSteps(claim, { events: [requested], at: requestedAt }, snapshot);
  }
  // The fast path's lease, active now, is answered from the state its last append left
  // (recentActiveLease); any other outcome is read from its row.
  let lease = (fastPath ? await recentActiveLease(drydock.store, leaseId) : undefined) ?? (await getLease(db, leaseId));
  for (let step = 0; !fastPath && step < FAST_PATH_STEPS && !isSettled(lease) && !signal?.aborted; step++) {
    let ran: boolean;
    try {
      ran = await drydock.worker.runNow(streamId);
    } catch {
      // Only an optimisation: the background worker still runs the item.
      break;
    }
    if (!ran) break;
    lease = await getLease(db, leaseId);
  }
  if (isSettled(lease) || waitSeconds <= 0) return lease;
  const settled = await drydock.watcher.waitFor(
    streamId,
    async () => {
      const now = await getLease(db, leaseId);
      return isSettled(now) ? now : undefined;
    },
    waitSeconds * 1000,
    signal,
  );
  return settled ?? (await getLease(db, leaseId));
}
