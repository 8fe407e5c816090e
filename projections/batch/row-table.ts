import type { ProjectionTable } from "../../src/store/schema";

/**
 * One projection table held in memory during a batched rebuild (pure, no I/O): the rows the
 * rebuild has built or read back, which of them must be written, and which stored rows must be
 * deleted. Its operations mean what the inline projections' SQL means: `insert` fails on a key
 * that exists (a primary key violation), `update` of a missing key does nothing (an UPDATE that
 * matches no row).
 *
 * A row whose stream has ended for good (a destroyed lease: the machine's final state) is written
 * at the end of its page and then leaves memory, so memory holds the live streams, not the whole
 * history. Only its key stays, marked evicted: an event that touches it after all (an illegal log)
 * must have the row read back first (`needsLoad`, `load`); reading an evicted row without that is
 * a bug in the batch form's `keys`, and throws instead of rebuilding something else.
 */
export class RowTable<Row extends object> {
  private readonly entries = new Map<string, Entry<Row> | typeof EVICTED>();
  /** Keys of rows changed since they were last written. */
  private readonly changed = new Set<string>();
  /** Keys of rows that exist in the database and were deleted here since the last write. */
  private readonly deleted = new Set<string>();

  constructor(
    readonly table: ProjectionTable,
    /** True for a row no legal event changes any more: written at the end of its page, then dropped. */
    private readonly isFinal: ((row: Row) => boolean) | null = null,
  ) {}

  get(key: string): Row | undefined {
    const entry = this.entries.get(key);
    if (entry === EVICTED) throw new Error(`batched rebuild: ${this.table} row ${key} was written and dropped from memory, and not read back before its next event`);
    return entry?.row;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  insert(key: string, row: Row): void {
    if (this.entries.has(key)) throw new DuplicateRowError(this.table, key);
    this.entries.set(key, { row, stored: this.deleted.delete(key) });
    this.changed.add(key);
  }

  /** Changes the row's columns in place; nothing when there is no row (as an UPDATE would). */
  update(key: string, set: Partial<Row>): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    if (entry === EVICTED) this.get(key);
    else {
      Object.assign(entry.row, set);
      this.changed.add(key);
    }
  }

  /** Inserts the row or replaces the existing one (INSERT … ON CONFLICT DO UPDATE of every column). */
  upsert(key: string, row: Row): void {
    const entry = this.entries.get(key);
    if (entry === EVICTED) this.get(key);
    else if (entry) {
      entry.row = row;
      this.changed.add(key);
    } else this.insert(key, row);
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry === EVICTED) this.get(key);
    if (!entry) return;
    if (entry !== EVICTED && entry.stored) this.deleted.add(key);
    this.entries.delete(key);
    this.changed.delete(key);
  }

  needsLoad(key: string): boolean {
    return this.entries.get(key) === EVICTED;
  }

  /** A row read back from the database (null: it is not there, so the key is free). */
  load(key: string, row: Row | null): void {
    if (row) this.entries.set(key, { row, stored: true });
    else this.entries.delete(key);
  }

  /** Stored rows deleted since the last call, to DELETE. */
  takeDeleted(): string[] {
    const keys = [...this.deleted];
    this.deleted.clear();
    return keys;
  }

  /**
   * Rows changed since they were last written, to write now; `finalOnly` takes just those of
   * ended streams (the end of a page), which then leave memory. Marks them written.
   */
  takeChanged(finalOnly: boolean): Row[] {
    if (finalOnly && !this.isFinal) return [];
    const rows: Row[] = [];
    for (const key of this.changed) {
      const entry = this.entries.get(key) as Entry<Row>;
      const final = this.isFinal?.(entry.row) ?? false;
      if (finalOnly && !final) continue;
      rows.push(entry.row);
      this.changed.delete(key);
      entry.stored = true;
      if (final) this.entries.set(key, EVICTED);
    }
    return rows;
  }
}

const EVICTED = Symbol("evicted");

interface Entry<Row> {
  row: Row;
  /** The database holds a version of this row (written earlier, or read back). */
  stored: boolean;
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
