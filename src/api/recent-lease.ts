import { streamIdOf } from "../../events/envelope";
import { leaseRecordOfState } from "../history/records-of-state";
import type { LeaseState } from "../machines/fold";
import type { LeaseRecord } from "../queries/lease-queries";
import { asJsonb } from "../queries/jsonb-order";
import type { EventStore } from "../store/event-store";
import { asFolded } from "../store/stream-state";

/**
 * The answer to a request that just appended to a lease, made from the state the store kept of
 * that append (loadState `recent`) instead of reading the lease's row again. The answer must be
 * the row's (leaseRecordOf), field for field and byte for byte; the fold and the row agree on
 * every field of the record with one exception: a lease that ends (released, broken) keeps its
 * last wait reason in its row, while the fold clears it. So these answer only where that cannot
 * show, and return undefined elsewhere: the caller then reads the row, as before. Attributes go
 * through asJsonb, so their keys come in the order the jsonb column gives them.
 */
async function recentRecord(store: Pick<EventStore, "loadState">, leaseId: string): Promise<LeaseRecord | undefined> {
  const state = await store.loadState(streamIdOf("lease", leaseId), { recent: true });
  if (!state) return undefined;
  const lease = asFolded(state) as LeaseState;
  // A state folded from events older than some columns lacks what migrations filled in the row
  // from elsewhere (the TTL: 008): only a state with every field its request sets today answers.
  const c = lease.context;
  if (c.ttlSeconds === undefined || c.ttlSource === undefined || c.priority === undefined || c.requestedAt === null) return undefined;
  const record = leaseRecordOfState(lease);
  return { ...record, attributes: asJsonb(record.attributes) };
}

/** An active lease (it never ended, and activating cleared its wait reason in both). */
export async function recentActiveLease(store: Pick<EventStore, "loadState">, leaseId: string): Promise<LeaseRecord | undefined> {
  const record = await recentRecord(store, leaseId);
  return record?.status === "active" ? record : undefined;
}

/**
 * A lease this process released just now from `before` (a live lease: only those can be
 * released), when it had no wait reason then: its row has none to keep.
 */
export async function recentReleasedLease(store: Pick<EventStore, "loadState">, leaseId: string, before: Pick<LeaseState, "context">): Promise<LeaseRecord | undefined> {
  if (before.context.waitReason !== null) return undefined;
  const record = await recentRecord(store, leaseId);
  return record?.status === "released" ? record : undefined;
}
