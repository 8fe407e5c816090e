/** The messages between the service's thread and PGlite's (pglite-thread.ts, pglite-worker.ts). */

/** What the thread opens: a data directory, or a dump to load into memory (tests' template), or an empty database in memory. */
export interface PGliteThreadStart {
  dataDir?: string;
  template?: Uint8Array;
}

export type PGliteThreadRequest =
  | { kind: "query"; id: number; connection: number; text: string; params: readonly unknown[] }
  | { kind: "listen"; id: number; channel: string }
  | { kind: "dump"; id: number }
  | { kind: "close"; id: number };

export type PGliteThreadReply =
  | { kind: "ready" }
  | { kind: "result"; id: number; rows: unknown[]; affectedRows: number | null }
  | { kind: "dump"; id: number; bytes: Uint8Array }
  | { kind: "error"; id: number; error: Record<string, unknown> }
  | { kind: "notification"; channel: string; payload: string };
