import { sql, type Kysely, type Selectable } from "kysely";
import { streamIdOf } from "../../events/envelope";
import type { HealthPolicy } from "../blueprints/blueprint";
import type { BlueprintRegistry } from "../blueprints/blueprint-registry";
import { blueprintViewOf } from "../blueprints/blueprint-views";
import type { ResourceFailureReport } from "../blueprints/failures";
import type { Clock } from "../domain/clock";
import { VersionConflictError } from "../domain/errors";
import type { FailingTarget } from "../machines/blueprint-machine";
import type { EventStore, StreamAppend } from "../store/event-store";
import type { BlueprintsTable, DrydockDatabase } from "../store/schema";

/**
 * Failures of a resource itself, seen by whoever used it: a lease's activation, a command, a file
 * operation. Peers (and Drydock) let a lease retry a dead host until the next periodic check; a
 * host that refuses one lease refuses the next, so here the first failure counts at once:
 *
 * - A configuration error (the host shows another key than the pinned one, our key is unusable
 *   or refused, the ready command is missing) breaks the resource now, and the blueprint records
 *   the target as failing (BlueprintTargetFailed): nothing is built on it again until the config
 *   changes, or the record's backoff runs out. Retrying cannot help, so nothing retries.
 * - Any other failure of the host (refused, timed out) is counted in `resource_health`, the
 *   health loop's own count, and the next check is due now. The resource is suspect
 *   (ResourceSuspected): it takes no new lease. The check clears it (ResourceRecovered), or
 *   counts one more failure; the policy's `failuresBeforeBroken` failures in a row, from leases
 *   and checks alike, break it, and its acquired leases go elsewhere.
 */
export interface ResourceFailureDeps {
  db: Kysely<DrydockDatabase>;
  store: EventStore;
  registry: BlueprintRegistry;
  clock: Clock;
  actor: string;
  /** A suspect resource wants its health check now: wakes this process's health loop. */
  onSuspect?: () => void;
}

export type ResourceFailureOutcome = "broken" | "suspect" | "counted" | "ignored";

export const DEFAULT_HEALTH_POLICY: HealthPolicy = { intervalMs: 60_000, failuresBeforeBroken: 2, retryMs: 15_000 };
/** The longest a failing target waits before it is tried again without a config change. */
const MAX_TARGET_RETRY_MS = 3_600_000;
/** A shortage is retried at least every 10 minutes: capacity comes back without anyone's help. */
const MAX_SHORTAGE_RETRY_MS = 600_000;

export async function reportResourceFailure(deps: ResourceFailureDeps, resourceId: string, failure: ResourceFailureReport): Promise<ResourceFailureOutcome> {
  const { db, clock } = deps;
  const resource = await db.selectFrom("resources").selectAll().where("resource_id", "=", resourceId).executeTakeFirst();
  // A pending resource's activation reports its own failure; an ended one is on its way out.
  if (!resource || resource.status !== "active") return "ignored";
  const blueprint = await db.selectFrom("blueprints").selectAll().where("blueprint_id", "=", resource.blueprint_id).executeTakeFirstOrThrow();
  const stream = streamIdOf("resource", resourceId);
  const error = { code: failure.code, message: failure.message };
  const now = clock.now();

  if (failure.configuration) {
    const broken: StreamAppend = { streamId: stream, expectedVersion: resource.version, events: [{ type: "ResourceBroken", data: { reason: `configuration error: ${failure.message}`, error } }] };
    const appended = await appendOrGiveWay(deps, resourceId, [broken, targetFailedAppend(deps.registry, blueprint, failure, now)]);
    if (appended) await db.deleteFrom("resource_health").where("resource_id", "=", resourceId).execute();
    return appended ? "broken" : "ignored";
  }

  const counted = await sql<{ failures: number }>`
    INSERT INTO resource_health (resource_id, next_check_at, failures, last_error)
    VALUES (${resourceId}, ${now}, 1, ${failure.message})
    ON CONFLICT (resource_id) DO UPDATE
      SET failures = resource_health.failures + 1, next_check_at = ${now}, last_error = ${failure.message}
    RETURNING failures`.execute(db);
  const failures = Number(counted.rows[0]!.failures);
  // Without health checks nothing would ever clear a suspect resource: the first failure breaks it.
  const checked = deps.registry.has(blueprint.kind) && deps.registry.get(blueprint.kind).checkHealth !== undefined;
  const policy = healthPolicyOf(deps.registry, blueprint);
  if (!checked || failures >= policy.failuresBeforeBroken) {
    const reason = `its host failed ${failures} time${failures === 1 ? "" : "s"} in a row: ${failure.message}`;
    const appended = await appendOrGiveWay(deps, resourceId, [{ streamId: stream, expectedVersion: resource.version, events: [{ type: "ResourceBroken", data: { reason, error } }] }]);
    if (appended) await db.deleteFrom("resource_health").where("resource_id", "=", resourceId).execute();
    return appended ? "broken" : "ignored";
  }
  if (resource.suspect_reason === null) {
    const reason = `a lease could not use it: ${failure.message}`;
    await appendOrGiveWay(deps, resourceId, [{ streamId: stream, expectedVersion: resource.version, events: [{ type: "ResourceSuspected", data: { reason, error } }] }]);
  }
  deps.onSuspect?.();
  return resource.suspect_reason === null ? "suspect" : "counted";
}

/**
 * The blueprint's record that a target failed for a configuration error. Each failure in a row
 * doubles the wait before the target is tried again without a config change, from the health
 * interval up to an hour: a host fixed outside Drydock (its authorized_keys, a missing package)
 * rejoins by itself, and a wrong config costs one attempt per interval, not one per lease.
 */
export function targetFailedAppend(
  registry: BlueprintRegistry,
  blueprint: Selectable<BlueprintsTable>,
  failure: ResourceFailureReport,
  now: Date,
  shortage?: { retryAfterMs: number },
): StreamAppend {
  const before = (blueprint.failing_targets as FailingTarget[]).find((f) => f.target === failure.target);
  const failures = (before?.failures ?? 0) + 1;
  // A shortage doubles from the provider's own hint (EC2's capacity returns over minutes).
  const baseMs = shortage ? Math.max(1_000, shortage.retryAfterMs) : healthPolicyOf(registry, blueprint).intervalMs;
  const waitMs = Math.min(shortage ? MAX_SHORTAGE_RETRY_MS : MAX_TARGET_RETRY_MS, baseMs * 2 ** Math.min(failures - 1, 16));
  return {
    streamId: streamIdOf("blueprint", blueprint.blueprint_id),
    expectedVersion: blueprint.version,
    events: [
      {
        type: "BlueprintTargetFailed",
        data: { target: failure.target, ...(shortage ? { cause: "shortage" as const } : {}), code: failure.code, message: failure.message, failures, retryAt: new Date(now.getTime() + waitMs).toISOString() },
      },
    ],
  };
}

export function healthPolicyOf(registry: BlueprintRegistry, blueprint: Selectable<BlueprintsTable>): HealthPolicy {
  try {
    return registry.get(blueprint.kind).healthPolicy?.(blueprintViewOf(blueprint, registry)) ?? DEFAULT_HEALTH_POLICY;
  } catch {
    return DEFAULT_HEALTH_POLICY; // an invalid config: the defaults
  }
}

/** Appends all or nothing; a stream that moved meanwhile (another report, a release) wins. */
async function appendOrGiveWay(deps: ResourceFailureDeps, resourceId: string, appends: StreamAppend[]): Promise<boolean> {
  try {
    await deps.store.appendMany(appends, { actor: deps.actor, correlationId: resourceId });
    return true;
  } catch (error) {
    if (error instanceof VersionConflictError) return false;
    throw error;
  }
}
