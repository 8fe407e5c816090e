import type { ListPage } from "./filesystem-interface";

/** Code-unit order: a listing's order must not depend on the host's locale. */
const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The names on a page of a directory's listing: sorted by name, those after `page.after`, at
 * most `page.limit` of them. Only these are then looked at (lstat), so a page costs its size,
 * whatever the directory's.
 */
export function namesOnPage(names: readonly string[], page: ListPage = {}): string[] {
  const after = page.after;
  const sorted = (after === undefined ? [...names] : names.filter((name) => name > after)).sort(byName);
  return page.limit === undefined ? sorted : sorted.slice(0, page.limit);
}
