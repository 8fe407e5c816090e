import type { Kysely } from "kysely";
import { RETRY_WAIT_CLAIM } from "../store/projection";
import type { DrydockDatabase } from "../store/schema";
import { isoOrNull } from "./iso-time";

/**
 * A stream's next step that has failed since the stream last moved (the worker's count on its
 * work item: src/allocator/worker.ts): what operators need to see a resource whose teardown
 * keeps failing, and why. Operational state, not history: an as-of answer has none.
 */
export interface FailingStep {
  /** The work item's kind: `destroy` for a teardown, `activate`, … */
  step: string;
  /** Failures in a row; the wait before the next try doubles with each, up to the worker's maximum. */
  failures: number;
  lastError: string;
  lastFailedAt: string;
  /** When it is tried next (a blueprint's PATCH or enable tries a resource's teardown at once); null: it is being tried now. */
  nextAttemptAt: string | null;
}

/** The failing steps of these streams, by stream id; a stream whose step has not failed is absent. */
export async function failingSteps(db: Kysely<DrydockDatabase>, streamIds: readonly string[]): Promise<Map<string, FailingStep>> {
  if (streamIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("work_items")
    .select(["stream_id", "kind", "failures", "last_error", "last_failed_at", "run_at", "claimed_by", "claimed_until"])
    .where("stream_id", "in", streamIds)
    .where("failures", ">", 0)
    .execute();
  return new Map(
    rows.map((r) => {
      // A failed run's claim is kept as the retry's wait (marked so); any other claim is a try running now.
      const running = r.claimed_by !== null && !r.claimed_by.startsWith(RETRY_WAIT_CLAIM);
      const waitsUntil = r.claimed_until !== null && new Date(r.claimed_until) > new Date(r.run_at) ? r.claimed_until : r.run_at;
      return [r.stream_id, { step: r.kind, failures: r.failures, lastError: r.last_error ?? "", lastFailedAt: isoOrNull(r.last_failed_at) ?? "", nextAttemptAt: running ? null : isoOrNull(waitsUntil) }];
    }),
  );
}
