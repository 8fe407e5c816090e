import { createHash } from "node:crypto";

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz";

/**
 * One authorization stream per (blueprint, client) pair, as Drydock keeps one row per pair: the id
 * is derived from the pair, so two concurrent requests for the same pair both append at version 0
 * of the same stream and the store lets exactly one through. No lookup, no race, no unique index
 * to trip over.
 */
export function authorizationIdOf(blueprintId: string, client: string): string {
  const digest = createHash("sha256").update(`${blueprintId}\n${client}`, "utf8").digest();
  let id = "";
  for (let i = 0; i < 24; i++) id += alphabet[digest[i]! % 32];
  return `au_${id}`;
}
