import type { LeaseView, ResourcePlan, ResourceView, Verdict } from "../../src/blueprints/blueprint";

/** The views a blueprint's pure predicates take, for its unit tests: a host lease and an active host resource. */
export const leaseView = (attributes: Record<string, unknown> = {}, leaseId = "ls_1"): LeaseView => ({
  leaseId,
  resourceType: "host",
  attributes,
  owner: "o",
  ownerResourceId: null,
  authorizingObject: null,
});

export const resourceView = (extra: Partial<ResourceView> = {}): ResourceView => ({
  resourceId: "rs_1",
  blueprintId: "bp_1",
  resourceType: "host",
  status: "active",
  attributes: {},
  leaseSlots: 4,
  liveLeases: 0,
  suspectReason: null,
  endReason: null,
  ...extra,
});

/** planResource answered a plan, not a refusal. */
export const isPlan = (p: ResourcePlan | Verdict): p is ResourcePlan => "leaseSlots" in p;
