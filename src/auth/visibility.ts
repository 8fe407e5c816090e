import type { Kysely } from "kysely";
import type { Page } from "../queries/pagination";
import type { DrydockDatabase } from "../store/schema";

/**
 * Keeps the resources of a page that the client has (or had) a lease of its own on (it is the
 * lease's owner and authorizing object: src/auth/scope.ts). For lists built from somewhere other
 * than the SQL filter (the log, as of a time), so a client never sees more there.
 */
export async function onlyResourcesLeasedBy<T extends { id: string }>(db: Kysely<DrydockDatabase>, client: string, page: Page<T>): Promise<Page<T>> {
  if (page.items.length === 0) return page;
  const rows = await db
    .selectFrom("leases")
    .select("resource_id")
    .distinct()
    .where("owner", "=", client)
    .where("authorizing_object", "=", client)
    .where("resource_id", "in", page.items.map((r) => r.id))
    .execute();
  const visible = new Set(rows.map((r) => r.resource_id));
  return { ...page, items: page.items.filter((r) => visible.has(r.id)) };
}
