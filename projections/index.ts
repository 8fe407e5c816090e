import type { InlineProjection } from "../src/store/projection";
import { authorizationsProjection } from "./authorizations-projection";
import { blueprintsProjection } from "./blueprints-projection";
import { capacityProjection } from "./capacity-projection";
import { leasesProjection } from "./leases-projection";
import { resourcesProjection } from "./resources-projection";
import { tokensProjection } from "./tokens-projection";
import { workProjection } from "./work-projection";

/**
 * Every inline projection, in the order they apply within an append transaction:
 * capacity reads the lease row before the leases projection moves it; work reads the rows after.
 */
export const inlineProjections: readonly InlineProjection[] = [
  blueprintsProjection,
  resourcesProjection,
  capacityProjection,
  leasesProjection,
  workProjection,
  tokensProjection,
  authorizationsProjection,
];
