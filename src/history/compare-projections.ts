/**
 * Compares two dumps of the projection tables (live and rebuilt), row by row and column by
 * column (pure). Rows are matched by their key column; a row on one side only is one difference
 * with `column: null`.
 */
export interface ProjectionDifference {
  table: string;
  key: string;
  /** The differing column; null when the row exists on one side only. */
  column: string | null;
  /** The value in the live table (the whole row when the column is null; undefined if missing). */
  live: unknown;
  rebuilt: unknown;
}

type Rows = Record<string, unknown>[];

/** A comparable text for a cell: times as ISO strings, JSON with sorted keys. */
export function cellText(value: unknown): string {
  return JSON.stringify(normalize(value));
}

function normalize(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, normalize((value as Record<string, unknown>)[k])]));
  }
  return value;
}

export function compareProjectionDumps(
  live: Record<string, Rows>,
  rebuilt: Record<string, Rows>,
  keyOf: Record<string, string>,
): ProjectionDifference[] {
  const differences: ProjectionDifference[] = [];
  for (const table of Object.keys(keyOf)) {
    const key = keyOf[table]!;
    const liveRows = new Map((live[table] ?? []).map((r) => [String(r[key]), r]));
    const rebuiltRows = new Map((rebuilt[table] ?? []).map((r) => [String(r[key]), r]));
    const keys = [...new Set([...liveRows.keys(), ...rebuiltRows.keys()])].sort();
    for (const k of keys) {
      const a = liveRows.get(k);
      const b = rebuiltRows.get(k);
      if (!a || !b) {
        differences.push({ table, key: k, column: null, live: a ? normalize(a) : undefined, rebuilt: b ? normalize(b) : undefined });
        continue;
      }
      for (const column of [...new Set([...Object.keys(a), ...Object.keys(b)])]) {
        if (cellText(a[column]) !== cellText(b[column])) {
          differences.push({ table, key: k, column, live: normalize(a[column]), rebuilt: normalize(b[column]) });
        }
      }
    }
  }
  return differences;
}

/** One line per difference, as `replay --check` prints them. */
export function formatDifference(d: ProjectionDifference): string {
  if (d.column === null) {
    return d.live === undefined
      ? `${d.table} ${d.key}: missing from the live table; rebuilt ${cellText(d.rebuilt)}`
      : `${d.table} ${d.key}: in the live table only (${cellText(d.live)}); not rebuilt from the log`;
  }
  return `${d.table} ${d.key} ${d.column}: live ${cellText(d.live)}, rebuilt ${cellText(d.rebuilt)}`;
}
