import type { RecordedEvent } from "../../events/envelope";
import { blueprintWork, leaseWork, resourceWork, type ScheduledWork } from "../work-schedule";
import type { BatchProjection, RowSet } from "./row-set";
import { MissingRowError } from "./row-table";

/**
 * The batch form of projections/work-projection.ts: each lease's, resource's and blueprint's work item,
 * recomputed from its row after each of its events (in memory, so only the last one is written).
 * Wake-ups run after live commits only; a rebuild runs none, as with the per-event form.
 */
export const workRows: BatchProjection = {
  name: "work",
  apply(rows, event: RecordedEvent) {
    const at = event.recordedAt;
    if (event.streamId.startsWith("lease-")) {
      const id = event.streamId.slice("lease-".length);
      const lease = rows.leases.get(id);
      if (!lease) throw new MissingRowError("leases", id, event.type);
      schedule(rows, event.streamId, leaseWork(lease, at));
    } else if (event.streamId.startsWith("resource-")) {
      const id = event.streamId.slice("resource-".length);
      const resource = rows.resources.get(id);
      if (!resource) throw new MissingRowError("resources", id, event.type);
      schedule(rows, event.streamId, resourceWork(resource, at));
    } else if (event.streamId.startsWith("blueprint-")) {
      const id = event.streamId.slice("blueprint-".length);
      const blueprint = rows.blueprints.get(id);
      if (!blueprint) throw new MissingRowError("blueprints", id, event.type);
      schedule(rows, event.streamId, blueprintWork(blueprint, at));
    }
  },
};

function schedule(rows: RowSet, streamId: string, work: ScheduledWork<string> | null): void {
  if (!work) rows.work_items.delete(streamId);
  else rows.work_items.upsert(streamId, { stream_id: streamId, kind: work.kind, run_at: work.runAt, claimed_by: null, claimed_until: null, failures: 0, last_error: null, last_failed_at: null });
}
