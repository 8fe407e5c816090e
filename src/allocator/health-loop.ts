import { sql } from "kysely";
import { streamIdOf } from "../../events/envelope";
import { no, type HealthPolicy, type Verdict } from "../blueprints/blueprint";
import { blueprintViewOf, loadResourceView } from "../blueprints/blueprint-views";
import { VersionConflictError } from "../domain/errors";
import type { WorkerContext } from "./worker-context";
import { DEFAULT_HEALTH_POLICY, healthPolicyOf } from "./resource-failures";
import { isHoldActive } from "../domain/resource-hold";

/**
 * Periodic health checks of active resources whose blueprint implements `checkHealth`.
 *
 * Works with any number of workers on one database: each active resource has a row in
 * `resource_health` saying when it is next due; a worker claims due rows with FOR UPDATE SKIP
 * LOCKED and a claim timeout (a killed checker's rows are taken over), checks them, and moves
 * them on. A success appends nothing (no event per check) unless it clears a suspect resource;
 * a failure is only counted, until `failuresBeforeBroken` in a row (leases' failures of the host
 * count too: resource-failures.ts) break the resource with the reason. The existing destroy step
 * then sends its acquired leases back to pending and releases its active ones with that reason.
 *
 * The same round releases idle resources the blueprint wants retired (a drained host's).
 */
export interface HealthLoopOptions {
  /** The longest sleep between rounds: a newly active resource is noticed within it. */
  maxIdleMs: number;
  /** A claimed check whose worker died is taken over after this long. */
  claimTimeoutMs: number;
  /** Checks run at once by this worker. */
  concurrency: number;
  onError?: (error: unknown, resourceId: string) => void;
}

export const defaultHealthLoopOptions: HealthLoopOptions = { maxIdleMs: 5_000, claimTimeoutMs: 120_000, concurrency: 4 };


interface Claimed {
  resource_id: string;
  failures: number;
}

export class HealthLoop {
  private readonly options: HealthLoopOptions;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private round: Promise<void> | undefined;
  private claims = 0;

  constructor(
    private readonly ctx: WorkerContext,
    options: Partial<HealthLoopOptions> = {},
  ) {
    this.options = { ...defaultHealthLoopOptions, ...options };
  }

  start(): void {
    if (this.ctx.registry.healthCheckedKinds().length === 0) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** A resource became suspect (resource-failures.ts): its check is due now, so look now. */
  nudge(): void {
    if (!this.stopped) this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.round;
  }

  /** One round: make rows for newly active resources, then claim and check the due ones. */
  async runDue(): Promise<number> {
    const kinds = this.ctx.registry.healthCheckedKinds();
    if (kinds.length === 0) return 0;
    await this.sync(kinds);
    const token = `${this.ctx.workerId}#health-${++this.claims}`;
    const claimed = await this.claim(token);
    await Promise.all(
      claimed.map((row) =>
        this.check(row, token).catch((error: unknown) => {
          this.options.onError?.(error, row.resource_id);
        }),
      ),
    );
    return claimed.length;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.round = this.loop();
    }, delayMs);
    this.timer.unref?.();
  }

  private async loop(): Promise<void> {
    let ran = 0;
    try {
      ran = await this.runDue();
    } catch (error) {
      this.options.onError?.(error, "*");
    }
    if (this.stopped) return;
    // A full batch may mean more are due; otherwise sleep until the next one.
    if (ran >= this.options.concurrency) return this.schedule(0);
    const next = await this.ctx.db
      .selectFrom("resource_health")
      .select((eb) => eb.fn.min("next_check_at").as("at"))
      .executeTakeFirst()
      .catch(() => undefined);
    const at = next?.at ? new Date(next.at).getTime() : Number.POSITIVE_INFINITY;
    this.schedule(Math.max(10, Math.min(at - this.ctx.clock.now().getTime(), this.options.maxIdleMs)));
  }

  private async sync(kinds: string[]): Promise<void> {
    const db = this.ctx.db;
    const missing = await db
      .selectFrom("resources as r")
      .innerJoin("blueprints as b", "b.blueprint_id", "r.blueprint_id")
      .leftJoin("resource_health as h", "h.resource_id", "r.resource_id")
      .select(["r.resource_id", "r.blueprint_id", "r.activated_at"])
      .where("r.status", "=", "active")
      .where("b.kind", "in", kinds)
      .where("h.resource_id", "is", null)
      .execute();
    if (missing.length > 0) {
      const policies = await this.policies([...new Set(missing.map((m) => m.blueprint_id))]);
      const now = this.ctx.clock.now().getTime();
      await db
        .insertInto("resource_health")
        .values(
          missing.map((m) => {
            // Activation has just checked the host: the first check is one interval after it.
            const since = m.activated_at ? new Date(m.activated_at).getTime() : now;
            return { resource_id: m.resource_id, next_check_at: new Date(since + (policies.get(m.blueprint_id) ?? DEFAULT_HEALTH_POLICY).intervalMs), failures: 0 };
          }),
        )
        .onConflict((oc) => oc.column("resource_id").doNothing())
        .execute();
    }
    await sql`
      DELETE FROM resource_health h
       WHERE NOT EXISTS (SELECT 1 FROM resources r WHERE r.resource_id = h.resource_id AND r.status = 'active')`.execute(db);
  }

  private async policies(blueprintIds: string[]): Promise<Map<string, HealthPolicy>> {
    const rows = await this.ctx.db.selectFrom("blueprints").selectAll().where("blueprint_id", "in", blueprintIds).execute();
    return new Map(rows.map((row) => [row.blueprint_id, healthPolicyOf(this.ctx.registry, row)]));
  }

  private async claim(token: string): Promise<Claimed[]> {
    const now = this.ctx.clock.now();
    const until = new Date(now.getTime() + this.options.claimTimeoutMs);
    const rows = await sql<Claimed>`
      UPDATE resource_health SET claimed_by = ${token}, claimed_until = ${until}
       WHERE resource_id IN (
         SELECT resource_id FROM resource_health
          WHERE next_check_at <= ${now} AND (claimed_until IS NULL OR claimed_until < ${now})
          ORDER BY next_check_at
          LIMIT ${this.options.concurrency}
          FOR UPDATE SKIP LOCKED)
      RETURNING resource_id, failures`.execute(this.ctx.db);
    return rows.rows;
  }

  private async check(row: Claimed, token: string): Promise<void> {
    const { db, registry } = this.ctx;
    const drop = () => db.deleteFrom("resource_health").where("resource_id", "=", row.resource_id).execute();
    const resource = await db.selectFrom("resources").selectAll().where("resource_id", "=", row.resource_id).executeTakeFirst();
    if (!resource || resource.status !== "active") {
      await drop();
      return;
    }
    const blueprintRow = await db.selectFrom("blueprints").selectAll().where("blueprint_id", "=", resource.blueprint_id).executeTakeFirstOrThrow();
    const impl = registry.get(blueprintRow.kind);
    const blueprint = blueprintViewOf(blueprintRow, registry);
    const view = await loadResourceView(db, resource);
    const policy = healthPolicyOf(registry, blueprintRow);

    const retire = impl.retireReason?.(blueprint, view, this.ctx.clock.now()) ?? null;
    // A held resource is kept as it is: not retired while the hold lasts (src/domain/resource-hold.ts).
    const held = resource.hold_reason !== null && isHoldActive({ until: resource.hold_until?.toISOString() ?? null }, this.ctx.clock.now());
    if (retire !== null && view.liveLeases === 0 && !held) {
      await this.end(resource.resource_id, resource.version, { type: "ResourceReleased", data: { reason: retire } });
      await drop();
      return;
    }

    let verdict: Verdict;
    try {
      verdict = impl.checkHealth ? await impl.checkHealth(blueprint, view, this.ctx.effects) : { ok: true };
    } catch (error) {
      verdict = no(error instanceof Error ? error.message : String(error));
    }
    const now = this.ctx.clock.now();
    const mine = db.updateTable("resource_health").where("resource_id", "=", row.resource_id).where("claimed_by", "=", token);
    if (verdict.ok) {
      await mine.set({ next_check_at: new Date(now.getTime() + policy.intervalMs), failures: 0, last_ok_at: now, last_error: null, claimed_by: null, claimed_until: null }).execute();
      if (resource.suspect_reason !== null) {
        await this.end(resource.resource_id, resource.version, { type: "ResourceRecovered", data: { reason: "its health check passed" } });
      }
      return;
    }
    const failures = row.failures + 1;
    if (failures < policy.failuresBeforeBroken) {
      await mine.set({ next_check_at: new Date(now.getTime() + policy.retryMs), failures, last_error: verdict.reason, claimed_by: null, claimed_until: null }).execute();
      return;
    }
    const reason = `health check failed${failures > 1 ? ` ${failures} times in a row` : ""}: ${verdict.reason}`;
    await this.end(resource.resource_id, resource.version, { type: "ResourceBroken", data: { reason, error: { code: "health_check_failed", message: verdict.reason } } });
    await drop();
  }

  /** Appends at the version read: if the resource moved meanwhile (released, say), nothing is appended. */
  private async end(resourceId: string, version: number, event: { type: string; data: unknown }): Promise<void> {
    try {
      await this.ctx.store.append(streamIdOf("resource", resourceId), version, [event], { actor: `health:${this.ctx.workerId}`, correlationId: resourceId });
    } catch (error) {
      if (!(error instanceof VersionConflictError)) throw error;
    }
  }
}
