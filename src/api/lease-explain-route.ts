import { z } from "@hono/zod-openapi";
import { explainLeaseById } from "../queries/lease-explain-query";
import type { Drydock } from "../service/drydock";
import type { ApiApp } from "./api-env";
import { idParams } from "./params";
import { errorResponses } from "./schemas";
import { rules } from "../auth/access-policy";
import { defineRoute } from "./route-access";

const CandidateSchema = z.object({
  kind: z.enum(["resource", "blueprint"]),
  id: z.string(),
  blueprintId: z.string().optional(),
  outcome: z.enum(["chosen", "skipped"]),
  reason: z.string(),
});

const LeaseExplanationSchema = z
  .object({
    leaseId: z.string(),
    status: z.string(),
    requestedAt: z.string(),
    activatedAt: z.string().nullable(),
    endedAt: z.string().nullable(),
    waitedMs: z.number().openapi({ description: "From the request until active (or ended, or now while it still waits)." }),
    stillWaiting: z.boolean(),
    waits: z
      .array(
        z.object({
          cause: z.enum(["queue", "allocator", "slot", "behind-leases", "quota", "blueprint", "configuration", "reclaim", "retry", "resource-activation", "lease-activation"]),
          ms: z.number(),
          detail: z.string().nullable(),
        }),
      )
      .openapi({ description: "The waited time by cause, longest first." }),
    attempts: z.number().int(),
    heldMs: z.number().nullable(),
    timeline: z.array(
      z.object({
        at: z.string(),
        durationMs: z.number().nullable().openapi({ description: "Until the next step (until now for the last step of a live lease)." }),
        streamId: z.string(),
        streamVersion: z.number().int(),
        event: z.string(),
        leaseStatus: z.string(),
        title: z.string(),
        candidates: z.array(CandidateSchema).optional(),
      }),
    ),
    summary: z.string().openapi({ example: "ls_x waited 40.1 s before it was active: 38.0 s for a free slot (pool at its limit of 2), 2.1 s for resource rs_x to activate" }),
  })
  .openapi("LeaseExplanation");

export const explainRoute = defineRoute({
  access: rules.lease("id"),
  method: "get",
  path: "/v1/leases/{id}/explain",
  summary: "Why the lease waited: its timeline from the log",
  description: "Each allocation attempt with the candidates it considered and why each was skipped, every wait and its reason, and the time spent in each step.",
  request: { params: idParams },
  responses: { 200: { description: "The explanation", content: { "application/json": { schema: LeaseExplanationSchema } } }, ...errorResponses(404) },
});

export function registerLeaseExplainRoute(app: ApiApp, drydock: Drydock): void {
  app.openapi(explainRoute, async (c) => c.json(await explainLeaseById(drydock.store, c.req.valid("param").id, drydock.clock.now()), 200));
}
