/**
 * The leftover sweep: on an interval (and once at start), asks each active resource whose
 * blueprint keeps leases' files on it (the local host) what of which leases is there, and removes
 * what belongs to no live lease (lease-leftover-decision.ts), processes first.
 *
 * It is the backstop, not the normal path: a lease's teardown removes its directories, and an
 * inline activation whose append lost removes its own when its lease was never stored. It
 * catches what those cannot: a process that stopped between an inline activation's mkdir and its
 * commit (the lease was never stored, and the local host's resource, which lives as long as the
 * machine serves, is never destroyed to take them with it), a teardown whose removal failed (the
 * lease ends anyway), and a stored lease's lost inline activation whose lease then ended without
 * being activated here. Without it
 * they stay until an operator finds the disk full.
 *
 * A lease is removed only while this process holds its activation (lease-activations.ts), and
 * only if the log still says, read under that hold, that nothing will use it: an activation in
 * this process then cannot make its directories under the removal. Another process's activation
 * of the same lease is kept apart by the grace period alone.
 */
import type { Kysely } from "kysely";
import type { LeaseTeardown } from "../blueprints/blueprint";
import type { BlueprintRegistry } from "../blueprints/blueprint-registry";
import { blueprintViewOf, resourceViewOf } from "../blueprints/blueprint-views";
import type { Clock } from "../domain/clock";
import type { DrydockDatabase } from "../store/schema";
import { decideLeaseLeftovers, orphanReason, type LeaseRecord, type LeftoverVerdict } from "./lease-leftover-decision";
import type { LeaseActivations } from "./lease-activations";

export interface LeaseLeftoverSweepDeps {
  db: Kysely<DrydockDatabase>;
  registry: BlueprintRegistry;
  clock: Clock;
  leaseActivations: LeaseActivations;
}

export interface SweptLeftover extends LeftoverVerdict {
  resourceId: string;
  blueprintId: string;
  /** Processes of the lease that were still running, ended first (their names, never arguments). */
  killedProcesses: string[];
}

export interface LeaseLeftoverReport {
  removed: SweptLeftover[];
  /** Orphaned but changed within the grace period, or being activated now: looked at again next pass. */
  young: (LeftoverVerdict & { resourceId: string })[];
  /** What could not be listed or removed: left for the next pass. */
  failures: { resourceId: string; leaseId: string | null; message: string }[];
}

/** Lease ids per query: well under either database's limit on bound parameters. */
const LOOKUP_CHUNK = 500;

export class LeaseLeftoverSweep {
  constructor(
    private readonly deps: LeaseLeftoverSweepDeps,
    readonly graceMs: number,
  ) {}

  /** One pass over every active resource. A dry run removes nothing: it says what a pass would. */
  async pass(options: { dryRun?: boolean } = {}): Promise<LeaseLeftoverReport> {
    const report: LeaseLeftoverReport = { removed: [], young: [], failures: [] };
    const kinds = this.deps.registry.kinds().filter((kind) => this.deps.registry.get(kind).leaseLeftovers !== undefined);
    if (kinds.length === 0) return report;
    const rows = await this.deps.db
      .selectFrom("resources as r")
      .innerJoin("blueprints as b", "b.blueprint_id", "r.blueprint_id")
      .selectAll("r")
      .select("b.kind")
      .where("r.status", "=", "active")
      .where("b.kind", "in", kinds)
      .execute();
    if (rows.length === 0) return report;
    const blueprintRows = await this.deps.db.selectFrom("blueprints").selectAll().where("blueprint_id", "in", [...new Set(rows.map((r) => r.blueprint_id))]).execute();
    const blueprints = new Map(blueprintRows.map((b) => [b.blueprint_id, blueprintViewOf(b, this.deps.registry)]));
    for (const row of rows) {
      const impl = this.deps.registry.get(row.kind);
      // Blueprint rows are never deleted (a blueprint is disabled, not removed): each resource's is there.
      const blueprint = blueprints.get(row.blueprint_id)!;
      // Live leases do not matter here: what is on the resource is looked up lease by lease.
      const resource = resourceViewOf(row, 0);
      let found;
      try {
        found = await impl.leaseLeftovers!(blueprint, resource);
      } catch (error) {
        report.failures.push({ resourceId: row.resource_id, leaseId: null, message: messageOf(error) });
        continue;
      }
      if (found.length === 0) continue;
      const records = await this.leaseRecords(found.map((f) => f.leaseId));
      const decision = decideLeaseLeftovers(found, (id) => records.get(id), row.resource_id, this.deps.clock.now(), this.graceMs);
      report.young.push(...decision.young.map((v) => ({ ...v, resourceId: row.resource_id })));
      for (const verdict of decision.remove) {
        const at = { resourceId: row.resource_id, blueprintId: row.blueprint_id };
        if (options.dryRun) {
          report.removed.push({ ...verdict, ...at, killedProcesses: [] });
          continue;
        }
        const release = this.deps.leaseActivations.tryHold(verdict.leaseId);
        if (!release) {
          report.young.push({ ...verdict, resourceId: row.resource_id });
          continue;
        }
        try {
          // Read again under the hold: a lease stored since keeps what is there.
          if (orphanReason((await this.leaseRecords([verdict.leaseId])).get(verdict.leaseId)) === null) continue;
          const teardown = await impl.removeLeaseLeftovers!(blueprint, resource, verdict.leaseId);
          report.removed.push({ ...verdict, ...at, killedProcesses: killedOf(teardown) });
        } catch (error) {
          report.failures.push({ resourceId: row.resource_id, leaseId: verdict.leaseId, message: messageOf(error) });
        } finally {
          release();
        }
      }
    }
    return report;
  }

  private async leaseRecords(leaseIds: readonly string[]): Promise<Map<string, LeaseRecord>> {
    const records = new Map<string, LeaseRecord>();
    for (let i = 0; i < leaseIds.length; i += LOOKUP_CHUNK) {
      const rows = await this.deps.db
        .selectFrom("leases")
        .select(["lease_id", "status", "resource_id"])
        .where("lease_id", "in", leaseIds.slice(i, i + LOOKUP_CHUNK))
        .execute();
      for (const r of rows) records.set(r.lease_id, { status: r.status, resourceId: r.resource_id });
    }
    return records;
  }
}

function killedOf(teardown: void | LeaseTeardown): string[] {
  return (teardown?.killedProcesses ?? []).map((p) => p.command);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
