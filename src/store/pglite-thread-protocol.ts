import type { PGliteArtifacts } from "./pglite-artifacts";

/** The messages between the service's thread and PGlite's (pglite-thread.ts, pglite-worker.ts). */

/** What the thread opens: a data directory, or a dump to load into memory (tests' template), or an empty database in memory. */
export interface PGliteThreadStart {
  dataDir?: string;
  template?: Uint8Array;
}

/** What the thread is given: what it opens, and PGlite's compiled WebAssembly and file system bundle. */
export type PGliteThreadData = PGliteThreadStart & PGliteArtifacts;

export type PGliteThreadRequest =
  | { kind: "query"; id: number; connection: number; text: string; params: readonly unknown[] }
  | { kind: "listen"; id: number; channel: string }
  | { kind: "dump"; id: number }
  | { kind: "close"; id: number };

export type PGliteThreadReply =
  | { kind: "ready" }
  /**
   * `jsonFields`: the columns of type json or jsonb, whose values cross as their text and are
   * parsed on the service's thread (parseJsonFields); `jsonArrayFields` the same for arrays of them.
   */
  | { kind: "result"; id: number; rows: unknown[]; affectedRows: number | null; jsonFields?: string[]; jsonArrayFields?: string[] }
  | { kind: "dump"; id: number; bytes: Uint8Array }
  | { kind: "error"; id: number; error: Record<string, unknown> }
  | { kind: "notification"; channel: string; payload: string };

/** PostgreSQL's type ids of json and jsonb, and of their arrays. */
export const JSON_TYPE_IDS: readonly number[] = [114, 3802];
export const JSON_ARRAY_TYPE_IDS: readonly number[] = [199, 3807];

/**
 * Parses, in place, the json and jsonb columns PGlite's thread left as text (a result's
 * `jsonFields`, `jsonArrayFields`): what PGlite's own parser (JSON.parse) would have made of them.
 */
export function parseJsonFields(rows: unknown[], jsonFields: readonly string[] = [], jsonArrayFields: readonly string[] = []): void {
  for (const row of rows as Record<string, unknown>[]) {
    for (const name of jsonFields) {
      const value = row[name];
      if (typeof value === "string") row[name] = JSON.parse(value);
    }
    for (const name of jsonArrayFields) row[name] = parseJsonArray(row[name]);
  }
}

function parseJsonArray(value: unknown): unknown {
  if (typeof value === "string") return JSON.parse(value);
  return Array.isArray(value) ? value.map(parseJsonArray) : value;
}
