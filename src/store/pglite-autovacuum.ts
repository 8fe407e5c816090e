import { sql, type Kysely } from "kysely";
import type { DrydockDatabase } from "./schema";

/**
 * How often a pass looks at the tables (ms), as PostgreSQL's autovacuum_naptime: a full pass,
 * which works on every table autovacuum's rules pick.
 */
export const AUTOVACUUM_INTERVAL_MS = 60_000;

/**
 * How often, between full passes, a quick pass vacuums the tables whose dead rows are over the
 * threshold, and no other (ms). Every lease cycle leaves a dead lock, work item and lease row
 * version behind, which the capacity view's scans walk until they are vacuumed: at 300 cycles a
 * second, a minute between passes let the database thread's work a cycle grow by half before
 * each one. Those tables hold few live rows, and vacuuming them takes a millisecond or two. What
 * a quick pass leaves to the full one (the event log's inserts, ANALYZE, freezing) holds the
 * embedded database's one session for longer, and is no worse for waiting.
 */
export const DEAD_ROWS_INTERVAL_MS = 5_000;

/**
 * A pass ends with a CHECKPOINT once this much WAL was written since the last one (bytes).
 * PGlite in single-user mode has no checkpointer, and PostgreSQL's own trigger is max_wal_size
 * (1 GB): the WAL of about 90,000 lease cycles piled up in `pg_wal` (in memory, for a database
 * that lives there) and would all be replayed at a start after a crash. A checkpoint after 50 MB
 * of lease cycles takes 20–40 ms; the segments before it are recycled as the next ones.
 */
export const CHECKPOINT_WAL_BYTES = 64 * 1024 * 1024;

export interface PGliteAutovacuumOptions {
  /** Between full passes (ms). */
  intervalMs?: number;
  /** Between quick passes (ms): never more than `intervalMs`. */
  deadRowsIntervalMs?: number;
  /** WAL since the last checkpoint over which a pass checkpoints (bytes). */
  checkpointWalBytes?: number;
  /** Told of a pass that failed; the next one runs as planned. */
  onError?: (error: unknown) => void;
}

/** What one pass did: the tables it vacuumed (and analyzed), and those it only analyzed. */
export interface AutovacuumPass {
  vacuumed: string[];
  analyzed: string[];
}

interface TableNeeds {
  relname: string;
  vacuum: boolean;
  /** Vacuum for its dead rows (one of `vacuum`'s reasons): what a quick pass does. */
  dead: boolean;
  analyze: boolean;
}

/** A full pass works on every table that needs it; a quick one only vacuums those with dead rows (DEAD_ROWS_INTERVAL_MS). */
export type AutovacuumPassKind = "full" | "dead-rows";

/**
 * PostgreSQL's autovacuum, for PGlite, which has none: PGlite is PostgreSQL in single-user mode,
 * with no background workers. Without it, every row a lease cycle updates or deletes stays in its
 * table and its indexes as a dead tuple for as long as the data directory lives: after 30,000
 * cycles the local host's `slot_locks` held 30,000 dead locks, which the capacity view's index
 * scan walks at every acquire, and the statistics the planner goes by were those of the empty
 * tables of the first migration. Nor would anything ever freeze old rows, and a long-lived
 * embedded database would in the end stop taking writes to protect itself from transaction id
 * wraparound.
 *
 * Each full pass (every AUTOVACUUM_INTERVAL_MS, a timer that keeps no process alive; quick passes
 * between them, DEAD_ROWS_INTERVAL_MS) picks the tables
 * by autovacuum's own rules and default thresholds, from the statistics PGlite keeps as PostgreSQL
 * does (`pg_stat_user_tables`): VACUUM (ANALYZE) a table whose dead tuples exceed 50 + 20 % of
 * its rows, whose inserts since its last vacuum exceed 1,000 + 20 % (the event log: its pages are
 * then marked all-visible and frozen in small steps), or whose oldest unfrozen transaction is
 * older than 200 million; ANALYZE one whose changes since its last analyze exceed 50 + 10 %.
 * PGlite runs one statement at a time, so a pass holds the others back while it runs: the
 * lease-cycle tables are small, and vacuuming them takes milliseconds. Every pass then
 * checkpoints once enough WAL was written (CHECKPOINT_WAL_BYTES), the checkpointer's work.
 */
export class PGliteAutovacuum {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  private lastFullAt = 0;
  private readonly intervalMs: number;
  private readonly deadRowsIntervalMs: number;
  private readonly checkpointWalBytes: number;
  private readonly onError: (error: unknown) => void;

  constructor(
    private readonly db: Kysely<DrydockDatabase>,
    options: PGliteAutovacuumOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? AUTOVACUUM_INTERVAL_MS;
    this.deadRowsIntervalMs = options.deadRowsIntervalMs ?? DEAD_ROWS_INTERVAL_MS;
    this.checkpointWalBytes = options.checkpointWalBytes ?? CHECKPOINT_WAL_BYTES;
    this.onError = options.onError ?? (() => {});
  }

  start(): void {
    if (this.timer) return;
    this.lastFullAt = performance.now();
    this.timer = setInterval(
      () => {
        // A slow pass is not overlapped by the next one.
        if (this.running) return;
        const full = performance.now() - this.lastFullAt >= this.intervalMs;
        if (full) this.lastFullAt = performance.now();
        this.running = this.pass(full ? "full" : "dead-rows")
          .then(() => this.checkpointIfDue())
          .catch(this.onError)
          .finally(() => (this.running = null));
      },
      Math.min(this.intervalMs, this.deadRowsIntervalMs),
    );
    this.timer.unref();
  }

  /** Stops the timer; waits for a pass under way. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /**
   * One pass: vacuums and analyzes the tables that need it now, one statement each; a quick one
   * (`dead-rows`) only vacuums, without ANALYZE, the tables whose dead rows are over the threshold.
   */
  async pass(kind: AutovacuumPassKind = "full"): Promise<AutovacuumPass> {
    const needs = await tablesNeedingWork(this.db);
    const done: AutovacuumPass = { vacuumed: [], analyzed: [] };
    if (kind === "dead-rows") {
      for (const table of needs.filter((t) => t.dead)) {
        await sql`VACUUM ${sql.table(table.relname)}`.execute(this.db);
        done.vacuumed.push(table.relname);
      }
      return done;
    }
    for (const table of needs) {
      if (table.vacuum) {
        await sql`VACUUM (ANALYZE) ${sql.table(table.relname)}`.execute(this.db);
        done.vacuumed.push(table.relname);
      } else if (table.analyze) {
        await sql`ANALYZE ${sql.table(table.relname)}`.execute(this.db);
        done.analyzed.push(table.relname);
      }
    }
    return done;
  }

  /** Checkpoints when the WAL since the last checkpoint is over `checkpointWalBytes`; whether it did. */
  async checkpointIfDue(): Promise<boolean> {
    if ((await walSinceCheckpoint(this.db)) <= this.checkpointWalBytes) return false;
    await sql`CHECKPOINT`.execute(this.db);
    return true;
  }
}

/** WAL written since the last checkpoint's redo point (bytes). */
export async function walSinceCheckpoint(db: Kysely<DrydockDatabase>): Promise<number> {
  const { rows } = await sql<{ bytes: string }>`SELECT (pg_current_wal_lsn() - redo_lsn)::text AS bytes FROM pg_control_checkpoint()`.execute(db);
  return Number(rows[0]!.bytes);
}

/**
 * The user tables autovacuum would work on now, with its default thresholds (autovacuum.c's
 * relation_needs_vacanalyze). A table never analyzed counts as empty (reltuples -1).
 */
async function tablesNeedingWork(db: Kysely<DrydockDatabase>): Promise<TableNeeds[]> {
  const { rows } = await sql<Omit<TableNeeds, "vacuum"> & { grown: boolean }>`
    SELECT s.relname,
           s.n_dead_tup > 50 + 0.2 * greatest(c.reltuples, 0) AS dead,
           s.n_ins_since_vacuum > 1000 + 0.2 * greatest(c.reltuples, 0)
             OR age(c.relfrozenxid) > 200000000 AS grown,
           s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0) AS analyze
      FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
     WHERE s.schemaname = current_schema()
     ORDER BY s.relname`.execute(db);
  return rows.map(({ grown, ...r }) => ({ ...r, vacuum: r.dead || grown })).filter((r) => r.vacuum || r.analyze);
}
