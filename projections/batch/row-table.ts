import type { ProjectionTable } from "../../src/store/schema";

/**
 * One projection table held in memory during a batched rebuild (pure, no I/O): the rows built so
 * far and which of them have changed since they were written. Its operations mean what the inline
 * projections' SQL means: `insert` fails on a key that exists (a primary key violation), `update`
 * of a missing key does nothing (an UPDATE that matches no row).
 *
 * A row whose stream has ended for good (a destroyed lease: the machine's final state) is written
 * at the end of its page and then leaves memory, so memory holds the live streams, not the whole
 * history; only its key stays, marked dropped. No legal event touches such a row again. If the
 * log holds one anyway, touching the row throws DroppedRowError and the rebuild starts over event
 * by event (see replayBatched), so even an illegal log is rebuilt as the inline projections would.
 * Every other row is written once, at the end of the rebuild.
 */
export class RowTable<Row extends object> {
  private readonly rows = new Map<string, Row | typeof DROPPED>();
  /** Keys of rows changed since they were last written. */
  private readonly changed = new Set<string>();

  constructor(
    readonly table: ProjectionTable,
    /** True for a row no legal event changes any more: written at the end of its page, then dropped. */
    private readonly isFinal: ((row: Row) => boolean) | null = null,
  ) {}

  get(key: string): Row | undefined {
    const row = this.rows.get(key);
    if (row === DROPPED) throw new DroppedRowError(this.table, key);
    return row;
  }

  has(key: string): boolean {
    return this.rows.has(key);
  }

  insert(key: string, row: Row): void {
    if (this.get(key)) throw new DuplicateRowError(this.table, key);
    this.rows.set(key, row);
    this.changed.add(key);
  }

  /** Changes the row's columns in place, `set` after `base`; nothing when there is no row (as an UPDATE would). */
  update(key: string, base: Partial<Row>, set?: Partial<Row>): void {
    const row = this.get(key);
    if (!row) return;
    Object.assign(row, base, set);
    this.changed.add(key);
  }

  /** Inserts the row or replaces the existing one (INSERT … ON CONFLICT DO UPDATE). */
  upsert(key: string, row: Row): void {
    this.get(key);
    this.rows.set(key, row);
    this.changed.add(key);
  }

  /**
   * Removes the row. Rows are written only once they are final or at the end, and a final row is
   * never deleted (that would touch a dropped row), so a deleted row was never written: there is
   * nothing to DELETE in the database.
   */
  delete(key: string): void {
    this.get(key);
    this.rows.delete(key);
    this.changed.delete(key);
  }

  /**
   * Rows changed since they were last written, to write now; `finalOnly` takes just those of
   * ended streams (the end of a page), which then leave memory.
   */
  takeChanged(finalOnly: boolean): Row[] {
    if (finalOnly && !this.isFinal) return [];
    const out: Row[] = [];
    for (const key of this.changed) {
      const row = this.rows.get(key) as Row;
      const final = this.isFinal?.(row) ?? false;
      if (finalOnly && !final) continue;
      out.push(row);
      this.changed.delete(key);
      if (final) this.rows.set(key, DROPPED);
    }
    return out;
  }
}

const DROPPED = Symbol("dropped");

/** An event touches the row of a stream that had ended for good (only an illegal log does). */
export class DroppedRowError extends Error {
  constructor(
    readonly table: ProjectionTable,
    readonly key: string,
  ) {
    super(`batched rebuild: an event touches ${table} row ${key}, whose stream had ended`);
  }
}

/** An insert of a key that exists: the per-event projection would fail on the primary key too. */
export class DuplicateRowError extends Error {
  constructor(
    readonly table: ProjectionTable,
    readonly key: string,
  ) {
    super(`batched rebuild: ${table} already has a row ${key} (duplicate key)`);
  }
}

/** A row the per-event projection reads with executeTakeFirstOrThrow is missing: it would fail too. */
export class MissingRowError extends Error {
  constructor(
    readonly table: ProjectionTable,
    readonly key: string,
    readonly eventType: string,
  ) {
    super(`batched rebuild: ${eventType} needs the ${table} row ${key}, and there is none`);
  }
}
