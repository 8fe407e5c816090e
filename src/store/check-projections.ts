import type { Kysely } from "kysely";
import { compareProjectionDumps, type ProjectionDifference } from "../history/compare-projections";
import type { InlineProjection } from "./projection";
import { dumpProjections, keyOf, lockForRebuild, rebuildInTransaction, type RebuildOptions, type RebuildResult } from "./rebuild-projections";
import type { DrydockDatabase } from "./schema";

export interface CheckResult extends RebuildResult {
  /** Rows in the live tables. */
  rows: number;
  differences: ProjectionDifference[];
}

/** Thrown to end the check's transaction with a ROLLBACK once the comparison is made. */
class RollBackTheCheck extends Error {}

/**
 * Rebuilds every projection from the log and compares the result with the live tables, without
 * changing them: the rebuild runs in a transaction that is rolled back. The live dump is taken
 * after the rebuild lock, so no append lands between the two dumps.
 */
export async function checkProjections(
  db: Kysely<DrydockDatabase>,
  projections: readonly InlineProjection[],
  options: RebuildOptions = {},
): Promise<CheckResult> {
  let result: CheckResult | undefined;
  try {
    await db.transaction().execute(async (trx) => {
      await lockForRebuild(trx);
      const live = await dumpProjections(trx);
      const rebuild = await rebuildInTransaction(trx, projections, options);
      const rebuilt = await dumpProjections(trx);
      const rows = Object.values(live).reduce((n, table) => n + table.length, 0);
      result = { ...rebuild, rows, differences: compareProjectionDumps(live, rebuilt, keyOf) };
      throw new RollBackTheCheck();
    });
  } catch (error) {
    if (!(error instanceof RollBackTheCheck)) throw error;
  }
  return result!;
}
