import type { ColumnType, Generated } from "kysely";
import type { FailingTarget } from "../machines/blueprint-machine";
import type { LeaseQuota, LeaseQuotaOfLease } from "../domain/lease-quota";

/** Kysely's view of the tables. SQL lives in numbered migrations (src/store/migrations). */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T = unknown> = ColumnType<T, string, string>;

export interface StreamsTable {
  stream_id: string;
  stream_type: string;
  version: number;
  /** The folded state at `version` (migration 008); null until first folded for older streams. */
  state: Json<{ status: string; context: unknown }> | null;
  updated_at: Timestamp;
}

export interface EventsTable {
  /** int8; both drivers return it as a number (see database.ts). */
  global_position: Generated<number>;
  transaction_id: Generated<string>;
  event_id: string;
  stream_id: string;
  stream_version: number;
  event_type: string;
  schema_version: number;
  data: Json;
  metadata: Json;
  recorded_at: Timestamp;
}

export interface BlueprintsTable {
  blueprint_id: string;
  name: string;
  kind: string;
  resource_type: string;
  config: Json<Record<string, unknown>>;
  resource_limit: number | null;
  /** The cap on a lease's life from its request; null: none (migration 015, src/domain/lease-ttl.ts). */
  max_lease_seconds: number | null;
  /** The pool policy, null: none (migration 016, src/domain/pool-policy.ts). */
  min_ready: number | null;
  max_leases_per_resource: number | null;
  max_age_seconds: number | null;
  idle_destroy_seconds: number | null;
  enabled: boolean;
  live_resources: number;
  /** FailingTarget records (src/machines/blueprint-machine.ts). */
  failing_targets: Json<FailingTarget[]>;
  version: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ResourcesTable {
  resource_id: string;
  blueprint_id: string;
  resource_type: string;
  status: string;
  attributes: Json<Record<string, unknown>>;
  lease_slots: number;
  for_lease_id: string | null;
  end_reason: string | null;
  retry_at: Timestamp | null;
  failures: number;
  allocated_at: Timestamp;
  activated_at: Timestamp | null;
  ended_at: Timestamp | null;
  suspect_reason: string | null;
  /** The hold on it (ResourceHeld), all null when none (migration 013; src/domain/resource-hold.ts). */
  hold_reason: string | null;
  hold_until: Timestamp | null;
  hold_by: string | null;
  hold_lease_id: string | null;
  held_at: Timestamp | null;
  /** The destroy step let its leases go and waits for the hold (ResourceDestroyDeferred). */
  destroy_deferred: boolean;
  version: number;
  updated_at: Timestamp;
}

export interface LeasesTable {
  lease_id: string;
  resource_type: string;
  status: string;
  owner: string;
  owner_resource_id: string | null;
  /** LeaseRequested's authorizingObject: null for an admin's lease (migration 006). */
  authorizing_object: string | null;
  /** Queue order: higher first, then requested_at (migration 012). */
  priority: Generated<number>;
  /** LeaseRequested's quota; null: none (migration 014). */
  lease_quota: Json<LeaseQuotaOfLease | null>;
  /** LeaseWaiting's cause while it waits, else null (migration 014). */
  wait_cause: string | null;
  attributes: Json<Record<string, unknown>>;
  blueprint_ids: Json<string[] | null>;
  resource_id: string | null;
  blueprint_id: string | null;
  slot: number | null;
  expires_at: Timestamp | null;
  /** The lease's current TTL and what set it (src/domain/lease-ttl.ts; migration 008). */
  ttl_seconds: number | null;
  ttl_source: string;
  retry_at: Timestamp | null;
  wait_reason: string | null;
  attempts: number;
  failures: number;
  working_directory: string | null;
  end_reason: string | null;
  requested_at: Timestamp;
  acquired_at: Timestamp | null;
  activated_at: Timestamp | null;
  ended_at: Timestamp | null;
  version: number;
  updated_at: Timestamp;
}

export interface SlotLocksTable {
  lock_key: string;
  owner_stream_id: string;
  /** The resource or blueprint the lock belongs to (scopeOfLock), indexed for capacity reads. */
  scope_id: string;
}

export interface WorkItemsTable {
  stream_id: string;
  kind: string;
  run_at: Timestamp;
  claimed_by: string | null;
  claimed_until: Timestamp | null;
  /** The step's failures in a row since the item was last written by an append (worker.ts); operational. */
  failures: Generated<number>;
  last_error: string | null;
  last_failed_at: Timestamp | null;
}

export interface TokensTable {
  token_id: string;
  owner: string;
  role: string;
  /** `sha256:<hex>` of the token; the token itself is stored nowhere. */
  token_hash: string;
  /** TokenIssued's defaultLeaseTtlSeconds: the TTL of its leases that name none (migration 008). */
  default_lease_ttl_seconds: number | null;
  /** TokenIssued's expiresAt: the token is refused from then on (migration 010). */
  expires_at: Timestamp | null;
  /** TokenIssued's leaseQuota; null: none (migration 014). */
  lease_quota: Json<LeaseQuota | null>;
  status: string;
  issued_by: string;
  issued_at: Timestamp;
  revoked_by: string | null;
  revoked_at: Timestamp | null;
  version: number;
  updated_at: Timestamp;
}

export interface AuthorizationsTable {
  authorization_id: string;
  blueprint_id: string;
  client: string;
  state: string;
  reason: string | null;
  requested_by: string;
  requested_at: Timestamp;
  decided_by: string | null;
  decided_at: Timestamp | null;
  version: number;
  updated_at: Timestamp;
}

/** When each active health-checked resource is next due (operational state, not a projection). */
export interface ResourceHealthTable {
  resource_id: string;
  next_check_at: Timestamp;
  failures: number;
  last_ok_at: Timestamp | null;
  last_error: string | null;
  claimed_by: string | null;
  claimed_until: Timestamp | null;
}

export interface DrydockDatabase {
  streams: StreamsTable;
  events: EventsTable;
  blueprints: BlueprintsTable;
  resources: ResourcesTable;
  leases: LeasesTable;
  slot_locks: SlotLocksTable;
  work_items: WorkItemsTable;
  resource_health: ResourceHealthTable;
  tokens: TokensTable;
  authorizations: AuthorizationsTable;
}

/** The tables that are pure projections of the log (rebuildable), in rebuild order. */
export const projectionTables = ["blueprints", "resources", "leases", "slot_locks", "work_items", "tokens", "authorizations"] as const;
export type ProjectionTable = (typeof projectionTables)[number];
