/** Rows as an aligned text table with a header; `-` for null. */
export function printTable<T extends object>(rows: readonly T[], columns: (keyof T & string)[], out: (line: string) => void): void {
  if (rows.length === 0) return;
  const cells = [columns as string[], ...rows.map((row) => columns.map((c) => (row[c] === null || row[c] === undefined ? "-" : String(row[c]))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const r of cells) out(r.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd());
}
