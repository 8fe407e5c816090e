import { ValidationError } from "../domain/errors";

/** Cursor pagination over time-ordered ids, newest first. The cursor is opaque to clients. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export function encodeCursor(id: string): string {
  return Buffer.from(id, "utf8").toString("base64url");
}

export function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, "base64url").toString("utf8");
  if (!/^[a-z]{2}_[0-9a-z]+$/.test(id)) throw new ValidationError("cursor: not a cursor this service gave out", { field: "cursor" });
  return id;
}

export function pageOf<Row, T>(rows: Row[], limit: number, idOf: (row: Row) => string, map: (row: Row) => T): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const last = kept.at(-1);
  return { items: kept.map(map), nextCursor: more && last ? encodeCursor(idOf(last)) : null };
}
