import { sql, type Kysely } from "kysely";

/**
 * Read models, updated in the append transaction. `slot_locks` is the capacity guard: a lease
 * holds `resource:<id>:slot:<n>` and a resource holds `blueprint:<id>:limit:<n>`; the primary key
 * makes it impossible for two writers to take the same slot, whatever process they run in.
 * `work_items` is the durable queue of pending work, one row per stream that needs a worker.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE blueprints (
      blueprint_id   text PRIMARY KEY,
      name           text NOT NULL,
      kind           text NOT NULL,
      resource_type  text NOT NULL,
      config         jsonb NOT NULL,
      resource_limit integer,
      enabled        boolean NOT NULL,
      live_resources integer NOT NULL DEFAULT 0,
      version        integer NOT NULL,
      created_at     timestamptz NOT NULL,
      updated_at     timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX blueprints_type ON blueprints (resource_type)`.execute(db);
  await sql`
    CREATE TABLE resources (
      resource_id   text PRIMARY KEY,
      blueprint_id  text NOT NULL,
      resource_type text NOT NULL,
      status        text NOT NULL,
      attributes    jsonb NOT NULL,
      lease_slots   integer NOT NULL,
      for_lease_id  text,
      end_reason    text,
      retry_at      timestamptz,
      failures      integer NOT NULL DEFAULT 0,
      allocated_at  timestamptz NOT NULL,
      activated_at  timestamptz,
      ended_at      timestamptz,
      version       integer NOT NULL,
      updated_at    timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX resources_blueprint_status ON resources (blueprint_id, status)`.execute(db);
  await sql`
    CREATE TABLE leases (
      lease_id          text PRIMARY KEY,
      resource_type     text NOT NULL,
      status            text NOT NULL,
      owner             text NOT NULL,
      owner_resource_id text,
      attributes        jsonb NOT NULL,
      blueprint_ids     jsonb,
      resource_id       text,
      blueprint_id      text,
      slot              integer,
      expires_at        timestamptz,
      retry_at          timestamptz,
      wait_reason       text,
      attempts          integer NOT NULL DEFAULT 0,
      failures          integer NOT NULL DEFAULT 0,
      working_directory text,
      end_reason        text,
      requested_at      timestamptz NOT NULL,
      acquired_at       timestamptz,
      activated_at      timestamptz,
      ended_at          timestamptz,
      version           integer NOT NULL,
      updated_at        timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX leases_status_type ON leases (status, resource_type, requested_at)`.execute(db);
  await sql`CREATE INDEX leases_resource ON leases (resource_id) WHERE resource_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX leases_owner_resource ON leases (owner_resource_id) WHERE owner_resource_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX leases_owner ON leases (owner, requested_at)`.execute(db);
  await sql`
    CREATE TABLE slot_locks (
      lock_key        text PRIMARY KEY,
      owner_stream_id text NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX slot_locks_owner ON slot_locks (owner_stream_id)`.execute(db);
  await sql`
    CREATE TABLE work_items (
      stream_id     text PRIMARY KEY,
      kind          text NOT NULL,
      run_at        timestamptz NOT NULL,
      claimed_by    text,
      claimed_until timestamptz
    )`.execute(db);
  await sql`CREATE INDEX work_items_due ON work_items (run_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ["work_items", "slot_locks", "leases", "resources", "blueprints"]) {
    await sql`DROP TABLE ${sql.table(t)}`.execute(db);
  }
}
