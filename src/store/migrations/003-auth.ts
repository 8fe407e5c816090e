import { sql, type Kysely } from "kysely";

/**
 * Read models of the token and authorization streams. `tokens.token_hash` is unique and indexed:
 * each authenticated request looks its token up by hash, and only by hash (the token itself is
 * never stored). `authorizations` holds one row per (blueprint, client) pair; the allocator reads
 * the approved rows of a lease's client.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE tokens (
      token_id   text PRIMARY KEY,
      owner      text NOT NULL,
      role       text NOT NULL,
      token_hash text NOT NULL UNIQUE,
      status     text NOT NULL,
      issued_by  text NOT NULL,
      issued_at  timestamptz NOT NULL,
      revoked_by text,
      revoked_at timestamptz,
      version    integer NOT NULL,
      updated_at timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX tokens_role_status ON tokens (role, status)`.execute(db);
  await sql`
    CREATE TABLE authorizations (
      authorization_id text PRIMARY KEY,
      blueprint_id     text NOT NULL,
      client           text NOT NULL,
      state            text NOT NULL,
      reason           text,
      requested_by     text NOT NULL,
      requested_at     timestamptz NOT NULL,
      decided_by       text,
      decided_at       timestamptz,
      version          integer NOT NULL,
      updated_at       timestamptz NOT NULL,
      UNIQUE (blueprint_id, client)
    )`.execute(db);
  await sql`CREATE INDEX authorizations_client_state ON authorizations (client, state)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE authorizations`.execute(db);
  await sql`DROP TABLE tokens`.execute(db);
}
