import type { Kysely } from "kysely";
import { DomainError, NotFoundError, TransitionRefusedError } from "../domain/errors";
import type { DrydockDatabase } from "../store/schema";
import type { BlueprintEffects, LeaseInterfaces } from "./blueprint";
import type { BlueprintRegistry } from "./blueprint-registry";
import type { ResourceFailureReport } from "./failures";
import { blueprintViewOf, leaseViewOf, loadResourceView } from "./blueprint-views";

/** Commands a lease may run at once when its blueprint does not say. */
export const DEFAULT_COMMAND_CONCURRENCY = 16;

/**
 * Finds the interfaces of an active lease through its resource's blueprint. A resource that
 * holds leases (a working copy on a host) reaches its held leases' interfaces the same way.
 */
export class LeaseInterfaceResolver implements BlueprintEffects {
  /** Where resource-level failures go (src/allocator/resource-failures.ts); set by the service. */
  private reporter: ((resourceId: string, failure: ResourceFailureReport) => Promise<unknown>) | undefined;

  constructor(
    private readonly db: Kysely<DrydockDatabase>,
    private readonly registry: BlueprintRegistry,
  ) {}

  reportResourceFailuresTo(reporter: (resourceId: string, failure: ResourceFailureReport) => Promise<unknown>): void {
    this.reporter = reporter;
  }

  /** Never throws: the caller is already failing with the error that matters to its user. */
  async reportResourceFailure(resourceId: string, failure: ResourceFailureReport): Promise<void> {
    try {
      await this.reporter?.(resourceId, failure);
    } catch {
      // The next health check will see what the report could not record.
    }
  }

  /** The lease's interfaces, and how many commands its blueprint lets it run at once (`commandLimit`). */
  async forLease(leaseId: string): Promise<LeaseInterfaces & { commandLimit: number }> {
    const lease = await this.db.selectFrom("leases").selectAll().where("lease_id", "=", leaseId).executeTakeFirst();
    if (!lease) throw new NotFoundError("lease", leaseId);
    if (lease.status !== "active" || !lease.resource_id) throw new TransitionRefusedError("lease", leaseId, lease.status, "use");
    const resource = await this.db.selectFrom("resources").selectAll().where("resource_id", "=", lease.resource_id).executeTakeFirstOrThrow();
    const blueprint = await this.db.selectFrom("blueprints").selectAll().where("blueprint_id", "=", resource.blueprint_id).executeTakeFirstOrThrow();
    const impl = this.registry.get(blueprint.kind);
    const view = blueprintViewOf(blueprint, this.registry);
    const interfaces = await impl.interfaces(view, await loadResourceView(this.db, resource), leaseViewOf(lease), this);
    return { ...interfaces, commandLimit: impl.commandConcurrency?.(view.config) ?? DEFAULT_COMMAND_CONCURRENCY };
  }

  async heldLeaseInterfaces(resourceId: string): Promise<LeaseInterfaces[]> {
    const held = await this.db
      .selectFrom("leases")
      .select(["lease_id", "status"])
      .where("owner_resource_id", "=", resourceId)
      .orderBy("lease_id")
      .execute();
    const inactive = held.find((l) => l.status !== "active");
    if (inactive) {
      throw new DomainError("interface_unavailable", `held lease ${inactive.lease_id} is ${inactive.status}`, { leaseId: inactive.lease_id });
    }
    return Promise.all(held.map((l) => this.forLease(l.lease_id)));
  }
}
