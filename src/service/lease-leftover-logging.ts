import type { LeaseLeftoverReport, LeaseLeftoverSweep } from "../allocator/lease-leftover-sweep";
import type { DrydockMetrics } from "../metrics/drydock-metrics";
import type { Logger } from "./logger";

/**
 * One pass of the leftover sweep as the service runs it: each removal is a warning an operator
 * can act on (something failed to clean up after a lease: a crash, a failed teardown), counted
 * in `drydock_lease_leftovers_removed_total`.
 */
export async function sweepLeaseLeftovers(sweep: LeaseLeftoverSweep, logger: Logger, metrics: DrydockMetrics): Promise<void> {
  const report: LeaseLeftoverReport = await sweep.pass();
  for (const removed of report.removed) {
    metrics.leaseLeftoversRemoved.inc();
    logger.warn(
      { leaseId: removed.leaseId, resourceId: removed.resourceId, blueprintId: removed.blueprintId, reason: removed.reason, changedAt: removed.changedAt.toISOString(), killedProcesses: removed.killedProcesses },
      "removed a lease's leftover directories",
    );
  }
  for (const failure of report.failures) logger.warn({ resourceId: failure.resourceId, leaseId: failure.leaseId, message: failure.message }, "lease leftover sweep could not finish on a resource");
}
