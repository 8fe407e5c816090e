/** A stored time (Date from pg, string from JSON or PGlite) as the API's ISO string; null stays null. */
export function isoOrNull(time: Date | string | null): string | null {
  return time === null ? null : new Date(time).toISOString();
}
