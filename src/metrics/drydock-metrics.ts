import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RecordedEvent } from "../../events/envelope";
import type { AllocationCandidate, LeaseEventData } from "../../events/lease-events";
import { assertNever } from "../domain/errors";
import type { StreamState } from "../store/stream-state";

/**
 * What one Drydock process counts as it works: appends, allocation decisions, provider errors,
 * HTTP requests, event-stream clients. Counters are per process (Prometheus adds them up across
 * processes); the gauges that describe the pool are read from the projections at each scrape
 * (pool-gauges.ts), so every process reports the same numbers.
 *
 * A registry per Drydock, not prom-client's global one: tests run several in one process.
 */
export class DrydockMetrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: "drydock_http_requests_total",
    help: "HTTP requests by method, route (the route's pattern, not the path) and status.",
    labelNames: ["method", "route", "status"] as const,
    registers: [this.registry],
  });

  readonly eventStreamClients = new Gauge({
    name: "drydock_event_stream_clients",
    help: "Clients following GET /v1/events/stream in this process.",
    registers: [this.registry],
  });

  readonly eventsAppended = new Counter({
    name: "drydock_events_appended_total",
    help: "Events appended by this process, by type.",
    labelNames: ["type"] as const,
    registers: [this.registry],
  });

  readonly appendSeconds = new Histogram({
    name: "drydock_event_append_seconds",
    help: "Time of one append (one transaction, projections included), committed appends only.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly keptViewDecisions = new Counter({
    name: "drydock_kept_capacity_view_decisions_total",
    help: "Lease requests decided over a capacity view kept from an earlier request instead of one read for them (the optimistic acquire), refused or not.",
    registers: [this.registry],
  });

  readonly keptViewRefusals = new Counter({
    name: "drydock_kept_capacity_view_refusals_total",
    help: "Lease requests decided over a capacity view kept from an earlier request that the database refused as stale, then made again over a fresh view.",
    registers: [this.registry],
  });

  readonly appendConflicts = new Counter({
    name: "drydock_event_append_conflicts_total",
    help: "Appends refused because the stream moved or a slot was taken (version_conflict, capacity_conflict).",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });

  readonly allocationDecisions = new Counter({
    name: "drydock_allocation_decisions_total",
    help: "Allocation attempts by outcome: free, shared, built, reclaimed, waited, broke.",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly leaseLeftoversRemoved = new Counter({
    name: "drydock_lease_leftovers_removed_total",
    help: "Lease directories on the local host that no live lease owned (a crash mid-activation, a failed teardown), removed by the leftover sweep.",
    registers: [this.registry],
  });

  readonly providerErrors = new Counter({
    name: "drydock_provider_errors_total",
    help: "Failures of blueprints' work by blueprint id, error code and kind: temporary (retried), permanent (broke a lease or resource), configuration (a config error), host (a lease found the host failing).",
    labelNames: ["blueprint", "code", "kind"] as const,
    registers: [this.registry],
  });

  readonly leaseWaitSeconds = new Histogram({
    name: "drydock_lease_wait_seconds",
    help: "From a lease's request until it became active.",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });

  /** The store's observer: what one committed append did, with each stream's state after it. */
  observeAppend(events: readonly RecordedEvent[], states: ReadonlyMap<string, StreamState>, seconds: number): void {
    this.appendSeconds.observe(seconds);
    for (const e of events) {
      this.eventsAppended.inc({ type: e.type });
      const context = (states.get(e.streamId)?.context ?? {}) as { blueprintId?: string | null; requestedAt?: string | null; activatedAt?: string | null };
      const blueprint = e.streamId.startsWith("blueprint-") ? e.streamId.slice("blueprint-".length) : (context.blueprintId ?? "");
      const d = e.data as Record<string, unknown>;
      const code = (d.error as { code?: string } | null | undefined)?.code;
      switch (e.type) {
        case "AllocationAttempted":
          this.allocationDecisions.inc({ outcome: outcomeOf(d as LeaseEventData<"AllocationAttempted">) });
          break;
        case "LeaseActivated":
          if (context.requestedAt && context.activatedAt) this.leaseWaitSeconds.observe(Math.max(0, Date.parse(context.activatedAt) - Date.parse(context.requestedAt)) / 1000);
          break;
        case "LeaseYielded":
          if (code) this.providerErrors.inc({ blueprint, code, kind: "temporary" });
          break;
        case "LeaseBroken":
        case "ResourceBroken":
          if (code) this.providerErrors.inc({ blueprint, code, kind: "permanent" });
          break;
        case "ResourceSuspected":
          if (code) this.providerErrors.inc({ blueprint, code, kind: "host" });
          break;
        case "BlueprintTargetFailed":
          this.providerErrors.inc({ blueprint, code: String(d.code), kind: "configuration" });
          break;
        default:
          break;
      }
    }
  }
}

function outcomeOf(attempt: LeaseEventData<"AllocationAttempted">): string {
  switch (attempt.decision) {
    case "acquire": {
      const chosen = attempt.candidates.find((c: AllocationCandidate) => c.outcome === "chosen");
      return chosen?.reason.startsWith("shared") ? "shared" : "free";
    }
    case "allocate":
      return "built";
    case "reclaim":
      return "reclaimed";
    case "wait":
      return "waited";
    case "break":
      return "broke";
    default:
      return assertNever(attempt.decision, "allocation decision");
  }
}
