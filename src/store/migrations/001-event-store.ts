import { sql, type Kysely } from "kysely";

/**
 * The log. `streams` holds each stream's version: append moves it with a conditional update, so
 * two writers of one stream cannot both succeed. `events.transaction_id` (xid8) lets readers of
 * the global log stay behind the oldest in-flight transaction and never skip a late commit.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE streams (
      stream_id   text PRIMARY KEY,
      stream_type text NOT NULL,
      version     integer NOT NULL CHECK (version > 0),
      updated_at  timestamptz NOT NULL
    )`.execute(db);
  await sql`
    CREATE TABLE events (
      global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
      event_id        uuid NOT NULL UNIQUE,
      stream_id       text NOT NULL,
      stream_version  integer NOT NULL,
      event_type      text NOT NULL,
      schema_version  smallint NOT NULL,
      data            jsonb NOT NULL,
      metadata        jsonb NOT NULL,
      recorded_at     timestamptz NOT NULL,
      UNIQUE (stream_id, stream_version)
    )`.execute(db);
  await sql`CREATE INDEX events_transaction_position ON events (transaction_id, global_position)`.execute(db);
  await sql`CREATE INDEX events_type_position ON events (event_type, global_position)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE events`.execute(db);
  await sql`DROP TABLE streams`.execute(db);
}
