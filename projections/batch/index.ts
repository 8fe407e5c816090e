import type { InlineProjection } from "../../src/store/projection";
import { authorizationsRows } from "./authorizations-rows";
import { blueprintsRows } from "./blueprints-rows";
import { capacityRows } from "./capacity-rows";
import { leasesRows } from "./leases-rows";
import { resourcesRows } from "./resources-rows";
import type { BatchProjection } from "./row-set";
import { tokensRows } from "./tokens-rows";
import { workRows } from "./work-rows";

/** The batch form of every inline projection, by the inline projection's name. */
export const batchProjections: ReadonlyMap<string, BatchProjection> = new Map(
  [blueprintsRows, resourcesRows, capacityRows, leasesRows, workRows, tokensRows, authorizationsRows].map((p) => [p.name, p]),
);

/**
 * The batch forms of these inline projections, in the same order (the order they apply in); null
 * when one of them has none, and the rebuild must then replay event by event.
 */
export function batchFormsOf(projections: readonly InlineProjection[]): BatchProjection[] | null {
  const forms: BatchProjection[] = [];
  for (const p of projections) {
    const form = batchProjections.get(p.name);
    if (!form) return null;
    forms.push(form);
  }
  return forms;
}
