import { rowProjection } from "./row-projection";
import { tokenRowChange } from "./token-row-changes";

/** The `tokens` table: each token's owner, role, hash and whether it is still active. */
export const tokensProjection = rowProjection({ name: "tokens", streamType: "token", table: "tokens", column: "token_id", change: tokenRowChange, json: ["lease_quota"] });
