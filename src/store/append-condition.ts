import type { CompiledQuery } from "kysely";

/**
 * A condition on rows outside an append that must hold when its events are stored: that the
 * token of the request appending still works (auth/token-check.ts). The store checks it in the
 * append's own statement, or first in its transaction, so the check and the write are one
 * atomic step: no revocation can land between them.
 *
 * `query` returns a row when the condition holds, and locks what it read FOR SHARE until the
 * commit: a writer of those rows (a revocation) either commits first, and the check sees its
 * write, or waits until the append has committed. When the condition does not hold, the append
 * stores nothing and throws `refused()`. `held()` is called once the events are stored.
 */
export interface AppendCondition {
  /** What it checks, in the refusal's message: "token tk_…". */
  readonly name: string;
  readonly query: CompiledQuery;
  refused(): Error;
  held(): void;
}

/** The SQLSTATE drydock_refuse_condition raises (migration 018). */
export const CONDITION_REFUSED = "DY412";
