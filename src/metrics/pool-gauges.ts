import { sql, type Kysely } from "kysely";
import { Gauge, type Registry } from "prom-client";
import type { Clock } from "../domain/clock";
import type { DrydockDatabase } from "../store/schema";

/**
 * Gauges that describe the pool, read from the projections when Prometheus scrapes, so every
 * Drydock process on one database reports the same numbers. Each read is one grouped query over
 * the live rows (destroyed leases and resources, which only grow, are left out).
 */
export function registerPoolGauges(registry: Registry, db: Kysely<DrydockDatabase>, clock: Clock): void {
  const registers = [registry];

  /** A gauge whose series are the rows of one query: the labels, and `n`, the value. */
  const grouped = <L extends string>(name: string, help: string, labelNames: readonly L[], rows: () => Promise<(Record<L, string> & { n: number | string })[]>) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      async collect() {
        const found = await rows();
        this.reset();
        for (const r of found) this.set(Object.fromEntries(labelNames.map((l) => [l, r[l]])) as unknown as Record<L, string>, Number(r.n));
      },
    });

  grouped("drydock_leases", "Leases by status and resource type (destroyed ones are not counted).", ["status", "resource_type"], async () =>
    (await sql<{ status: string; resource_type: string; n: string }>`
      SELECT status, resource_type, count(*) AS n FROM leases WHERE status <> 'destroyed' GROUP BY status, resource_type`.execute(db)).rows,
  );

  new Gauge({
    name: "drydock_lease_oldest_pending_seconds",
    help: "How long the longest-waiting pending lease has waited, by resource type.",
    labelNames: ["resource_type"] as const,
    registers,
    async collect() {
      const rows = await sql<{ resource_type: string; at: Date | string }>`
        SELECT resource_type, min(requested_at) AS at FROM leases WHERE status = 'pending' GROUP BY resource_type`.execute(db);
      this.reset();
      const now = clock.now().getTime();
      for (const r of rows.rows) this.set({ resource_type: r.resource_type }, Math.max(0, now - new Date(r.at).getTime()) / 1000);
    },
  });

  grouped("drydock_resources", "Resources by blueprint and status (destroyed ones are not counted); suspect ones also in drydock_resources_suspect.", ["blueprint", "status"], async () =>
    (await sql<{ blueprint: string; status: string; n: string }>`
      SELECT blueprint_id AS blueprint, status, count(*) AS n FROM resources WHERE status <> 'destroyed' GROUP BY blueprint_id, status`.execute(db)).rows,
  );

  grouped("drydock_resources_suspect", "Active resources a lease found failing, awaiting their health check (no new leases), by blueprint.", ["blueprint"], async () =>
    (await sql<{ blueprint: string; n: string }>`
      SELECT blueprint_id AS blueprint, count(*) AS n FROM resources WHERE status = 'active' AND suspect_reason IS NOT NULL GROUP BY blueprint_id`.execute(db)).rows,
  );

  grouped("drydock_resources_held", "Resources on hold (no new lease; not destroyed once ended) until released or their time is up, by blueprint and status.", ["blueprint", "status"], async () =>
    (await sql<{ blueprint: string; status: string; n: string }>`
      SELECT blueprint_id AS blueprint, status, count(*) AS n FROM resources WHERE status <> 'destroyed' AND hold_reason IS NOT NULL GROUP BY blueprint_id, status`.execute(db)).rows,
  );

  const blueprintRows = () =>
    db.selectFrom("blueprints").select(["blueprint_id", "name", "enabled", "resource_limit", "live_resources", "failing_targets"]).execute();

  grouped("drydock_blueprint_failing_targets", "Targets (hosts) of a blueprint failing with a configuration error: nothing is built on them until the config is fixed.", ["blueprint", "name"], async () =>
    (await blueprintRows()).map((r) => ({ blueprint: r.blueprint_id, name: r.name, n: (r.failing_targets as unknown[]).length })),
  );

  new Gauge({
    name: "drydock_blueprint_resources",
    help: "A blueprint's live resources (value) and its resource limit (limit=\"true\"; absent when unlimited).",
    labelNames: ["blueprint", "name", "limit"] as const,
    registers,
    async collect() {
      const rows = await blueprintRows();
      this.reset();
      for (const r of rows) {
        this.set({ blueprint: r.blueprint_id, name: r.name, limit: "false" }, r.live_resources);
        if (r.resource_limit !== null) this.set({ blueprint: r.blueprint_id, name: r.name, limit: "true" }, r.resource_limit);
      }
    },
  });

  new Gauge({
    name: "drydock_work_items",
    help: "The durable work queue: items due now (due=\"true\") and scheduled for later (due=\"false\").",
    labelNames: ["due"] as const,
    registers,
    async collect() {
      const now = clock.now();
      const rows = await sql<{ due: boolean; n: string }>`
        SELECT run_at <= ${now} AS due, count(*) AS n FROM work_items GROUP BY 1`.execute(db);
      this.reset();
      this.set({ due: "true" }, 0);
      this.set({ due: "false" }, 0);
      for (const r of rows.rows) this.set({ due: r.due ? "true" : "false" }, Number(r.n));
    },
  });

  new Gauge({
    name: "drydock_work_items_failing",
    help: "Work items whose step has failed since their stream last changed, by step (destroy: a teardown that keeps failing); `GET /v1/resources/{id}` has the error.",
    labelNames: ["step"] as const,
    registers,
    async collect() {
      const rows = await sql<{ kind: string; n: string }>`SELECT kind, count(*) AS n FROM work_items WHERE failures > 0 GROUP BY kind`.execute(db);
      this.reset();
      this.set({ step: "destroy" }, 0);
      for (const r of rows.rows) this.set({ step: r.kind }, Number(r.n));
    },
  });

  new Gauge({
    name: "drydock_work_oldest_due_seconds",
    help: "How long the oldest due work item has been due and not done (0: none due). A growing value is a backlog.",
    registers,
    async collect() {
      const now = clock.now();
      const row = await sql<{ at: Date | string | null }>`SELECT min(run_at) AS at FROM work_items WHERE run_at <= ${now}`.execute(db);
      const at = row.rows[0]?.at;
      this.set(at ? Math.max(0, now.getTime() - new Date(at).getTime()) / 1000 : 0);
    },
  });
}
