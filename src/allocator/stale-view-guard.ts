import { sql, type Kysely } from "kysely";
import type { AppendCondition } from "../store/append-condition";
import { CompiledShapes } from "../store/compiled-once";
import type { DrydockDatabase } from "../store/schema";
import { StaleCapacityView } from "./capacity-view-cache";

/** What an acquisition decided over a kept capacity view rests on, beyond the slot locks it takes. */
export interface KeptViewDecision {
  resourceId: string;
  /** The resource's and its blueprint's versions as the kept view has them. */
  resourceVersion: number;
  blueprintId: string;
  blueprintVersion: number;
  /** The client whose approval on the blueprint the lease needs; null: none (an admin). */
  client: string | null;
  resourceType: string;
  /** The lease's queue priority. */
  priority: number;
  /** The request's token, whose terms the kept view had: its row must be at that version and work at `at`. */
  token: { tokenId: string; version: number; at: Date; held(): void } | null;
}

const guardShapes = new CompiledShapes();

/**
 * The condition an acquisition decided over a kept view (capacity-view-cache.ts) is appended
 * with, in the append's own statement: everything the decision rests on that slot locks do not
 * guard is still as the view had it, so the decision is one a view read now would allow.
 *
 * - the resource and its blueprint are at the versions the view had (any change to either, a
 *   release, a hold, a failure, new settings, moves its version), and the resource is active;
 * - the client's approval on that blueprint still stands;
 * - no lease of the type waits in the queue at this lease's priority or above: every one there
 *   was asked for earlier, and would be served first (decide-in-queue.ts);
 * - the token, when the request's terms came from the view, is at the version the view read
 *   (its terms unchanged) and works, its row locked FOR SHARE as a release's TokenCheck locks it,
 *   so a revocation lands before the append (which is then refused) or after it.
 *
 * The slot, the use number under maxLeasesPerResource and the quota numbers are unique slot
 * locks: one taken since the view was read refuses the append as it refuses any racing one. When
 * the condition does not hold, the append stores nothing and StaleCapacityView asks for the
 * request to be made again over a fresh view.
 */
export function staleViewGuard(db: Kysely<DrydockDatabase>, d: KeptViewDecision): AppendCondition {
  const args = {
    resourceId: d.resourceId,
    resourceVersion: d.resourceVersion,
    blueprintId: d.blueprintId,
    blueprintVersion: d.blueprintVersion,
    client: d.client,
    resourceType: d.resourceType,
    priority: d.priority,
    ...(d.token ? { tokenId: d.token.tokenId, tokenVersion: d.token.version, at: d.token.at } : {}),
  };
  const query = guardShapes.compile(db, d.token ? "token" : "-", args, (db, a) => {
    const rest = sql`EXISTS (SELECT 1 FROM resources WHERE resource_id = ${a.resourceId} AND version = ${a.resourceVersion} AND status = 'active')
      AND EXISTS (SELECT 1 FROM blueprints WHERE blueprint_id = ${a.blueprintId} AND version = ${a.blueprintVersion})
      AND (${a.client}::text IS NULL OR EXISTS (SELECT 1 FROM authorizations WHERE client = ${a.client} AND blueprint_id = ${a.blueprintId} AND state = 'approved'))
      AND NOT EXISTS (SELECT 1 FROM leases WHERE status = 'pending' AND resource_type = ${a.resourceType} AND failures = 0 AND priority >= ${a.priority})`;
    const query =
      a.tokenId === undefined
        ? sql`SELECT 1 AS ok WHERE ${rest}`
        : sql`SELECT 1 AS ok FROM tokens
            WHERE token_id = ${a.tokenId} AND version = ${a.tokenVersion} AND status = 'active' AND (expires_at IS NULL OR expires_at > ${a.at}) AND ${rest}
            FOR SHARE`;
    return { compile: () => query.compile(db) };
  });
  return {
    name: "capacity view",
    query,
    refused: () => new StaleCapacityView("the resource, its blueprint, the approval, the queue or the token changed since it was read"),
    held: () => d.token?.held(),
  };
}
