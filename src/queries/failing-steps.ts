import { sql, type Kysely } from "kysely";
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

/** The columns of a resource's work item that resourcesWithWorkItem adds to each row (null: no item). */
interface WorkItemColumns {
  work_kind: string | null;
  work_failures: number | null;
  work_last_error: string | null;
  work_last_failed_at: Date | string | null;
  work_run_at: Date | string | null;
  work_claimed_by: string | null;
  work_claimed_until: Date | string | null;
}

/**
 * Resources read with their work item's columns, joined by the item's key in the same statement:
 * a resource's failing step costs its reader no query of its own.
 */
export function resourcesWithWorkItem(db: Kysely<DrydockDatabase>) {
  return db
    .selectFrom("resources")
    .leftJoin("work_items as w", (join) => join.on(sql<boolean>`w.stream_id = 'resource-' || resources.resource_id`))
    .selectAll("resources")
    .select(["w.kind as work_kind", "w.failures as work_failures", "w.last_error as work_last_error", "w.last_failed_at as work_last_failed_at", "w.run_at as work_run_at", "w.claimed_by as work_claimed_by", "w.claimed_until as work_claimed_until"]);
}

/** The failing step a row read by resourcesWithWorkItem holds, or null when its step has not failed. */
export function failingStepOf(row: WorkItemColumns): FailingStep | null {
  if (row.work_kind === null || !row.work_failures) return null;
  // A failed run's claim is kept as the retry's wait (marked so); any other claim is a try running now.
  const running = row.work_claimed_by !== null && !row.work_claimed_by.startsWith(RETRY_WAIT_CLAIM);
  const waitsUntil = row.work_claimed_until !== null && row.work_run_at !== null && new Date(row.work_claimed_until) > new Date(row.work_run_at) ? row.work_claimed_until : row.work_run_at;
  return {
    step: row.work_kind,
    failures: row.work_failures,
    lastError: row.work_last_error ?? "",
    lastFailedAt: isoOrNull(row.work_last_failed_at) ?? "",
    nextAttemptAt: running ? null : isoOrNull(waitsUntil),
  };
}
