import { authorizationRowChange } from "./authorization-row-changes";
import { rowProjection } from "./row-projection";

/** The `authorizations` table: one row per (blueprint, client), its state and who decided it. */
export const authorizationsProjection = rowProjection({
  name: "authorizations",
  streamType: "authorization",
  table: "authorizations",
  column: "authorization_id",
  change: authorizationRowChange,
});
