import type { CommandInterface } from "../interfaces/command-interface";
import type { FilesystemInterface } from "../interfaces/filesystem-interface";
import type { HttpdInterface } from "../interfaces/httpd-interface";
import type { KilledProcess } from "../interfaces/marked-processes";
import type { FailingTarget } from "../machines/blueprint-machine";
import type { ResourceFailureReport } from "./failures";
import type { PoolPolicy } from "../domain/pool-policy";

/**
 * The blueprint contract, after Drydock's. The predicates are pure (the allocator evaluates them
 * over a capacity view); the effects do the I/O, and throw a TemporaryFailure or PermanentFailure
 * (src/blueprints/failures.ts) so the worker knows whether to retry or break.
 */
export type Verdict = { ok: true } | { ok: false; reason: string; cause?: "configuration" };
export const yes: Verdict = { ok: true };
export const no = (reason: string): Verdict => ({ ok: false, reason });
/** A refusal only a config change (or a fix on the target itself) can lift: retrying hits the same wall. */
export const misconfigured = (reason: string): Verdict => ({ ok: false, reason, cause: "configuration" });

export interface LeaseView {
  leaseId: string;
  resourceType: string;
  attributes: Record<string, unknown>;
  owner: string;
  ownerResourceId: string | null;
  /**
   * Who the lease acts for: a client name, or `blueprint:<id>` for a lease a resource holds;
   * null for an admin's lease. A blueprint that confines untrusted work (the local host's
   * sandbox) confines every lease that has one.
   */
  authorizingObject: string | null;
}

export interface ResourceView {
  resourceId: string;
  blueprintId: string;
  resourceType: string;
  status: string;
  attributes: Record<string, unknown>;
  leaseSlots: number;
  liveLeases: number;
  /** Why a lease's failure made it suspect (ResourceSuspected): it takes no new lease until checked. */
  suspectReason: string | null;
  /** Why it was released or broken; null while it lives. */
  endReason: string | null;
  /**
   * Active with no live lease since then (ISO time: its activation or its last lease's end, as the
   * log has them, so a restart does not reset it); null while leased or not active. Absent where
   * the caller did not read it.
   */
  idleSince?: string | null;
}

export interface BlueprintView<Config = Record<string, unknown>> {
  blueprintId: string;
  name: string;
  kind: string;
  resourceType: string;
  config: Config;
  resourceLimit: number | null;
  enabled: boolean;
  liveResources: number;
  /**
   * Targets (hosts) that failed for a configuration error and are not due for a retry yet
   * (BlueprintTargetFailed): planResource builds nothing on them, and says why.
   */
  failingTargets: readonly FailingTarget[];
  /** The cap on a lease's life from its request (src/domain/lease-ttl.ts); absent or null: none. */
  maxLeaseSeconds?: number | null;
  /** The pool policy (src/domain/pool-policy.ts); absent: none. */
  pool?: PoolPolicy;
}

/** A lease a resource takes on another resource while it is built (a working copy's host). */
export interface HeldLeaseRequest {
  resourceType: string;
  attributes: Record<string, unknown>;
  blueprintIds: string[] | null;
}

/** What a new resource will be: decided purely, before any I/O. */
export interface ResourcePlan {
  attributes: Record<string, unknown>;
  leaseSlots: number;
  /** Slot locks the resource holds while it lives (e.g. one live resource per host). */
  locks: string[];
  heldLeases: HeldLeaseRequest[];
}

export interface LeaseInterfaces {
  command: CommandInterface;
  filesystem: FilesystemInterface;
  /**
   * Optional: a web server in the lease, proxied at /v1/leases/{id}/http/ (src/interfaces/httpd-interface.ts).
   * A lease on a resource that holds a host lease (a working copy) can offer its held lease's,
   * started in its own directory through `cwd`.
   */
  httpd?: HttpdInterface;
}

/** What effects may use: the interfaces of leases the resource holds. */
export interface BlueprintEffects {
  heldLeaseInterfaces(resourceId: string): Promise<LeaseInterfaces[]>;
  /**
   * A lease's use of the resource (a command, a file operation) failed because of the resource
   * itself: its host refused the connection, timed out, or refused our key. It counts against
   * the resource at once (src/allocator/resource-failures.ts). Never throws.
   */
  reportResourceFailure(resourceId: string, failure: ResourceFailureReport): Promise<void>;
}

/** How an implementation's active resources are health-checked (src/allocator/health-loop.ts). */
export interface HealthPolicy {
  intervalMs: number;
  /** Failed checks in a row before the resource is broken. */
  failuresBeforeBroken: number;
  /** After a failed check that did not break the resource, check again this soon. */
  retryMs: number;
}

/** What a lease's teardown did beyond removing its things, for the lease's history (LeaseDestroyed). */
export interface LeaseTeardown {
  /** Processes the lease left running that the teardown killed (an empty list: it looked, none). */
  killedProcesses?: KilledProcess[];
  /** Killed but not listed (the list is bounded). */
  killedProcessesOmitted?: number;
}

/** A teardown that failed after doing part of its work: the lease's history keeps both. */
export class LeaseCleanupError extends Error {
  constructor(
    message: string,
    readonly teardown: LeaseTeardown,
  ) {
    super(message);
    this.name = "LeaseCleanupError";
  }
}

export interface BlueprintImplementation<Config = any> {
  readonly kind: string;
  readonly resourceType: string;
  readonly description: string;
  /** Validates raw config; throws ValidationError naming the field. Never keeps secrets themselves. */
  parseConfig(raw: unknown): Config;
  defaultResourceLimit(config: Config): number | null;

  canEverAllocate(blueprint: BlueprintView<Config>, lease: LeaseView): Verdict;
  /**
   * Plans a new resource, or says why none can be built now. `existing`: this blueprint's
   * resources not yet destroyed, ended ones included (they still hold their slot locks).
   */
  planResource(blueprint: BlueprintView<Config>, lease: LeaseView, existing: readonly ResourceView[]): ResourcePlan | Verdict;
  canAcquire(blueprint: BlueprintView<Config>, resource: ResourceView, lease: LeaseView): Verdict;
  /** True: prefer building another resource to sharing one that already has leases. */
  shouldAllocateSupplemental(blueprint: BlueprintView<Config>, resource: ResourceView, lease: LeaseView): boolean;

  activateResource(blueprint: BlueprintView<Config>, resource: ResourceView, effects: BlueprintEffects): Promise<Record<string, unknown>>;
  destroyResource(blueprint: BlueprintView<Config>, resource: ResourceView, effects: BlueprintEffects): Promise<void>;
  /**
   * True when activateLease does only quick, local work (a directory on this machine): the
   * allocator then activates a lease in the step that acquires it, and stores both in one
   * transaction. Never for remote or slow work (SSH, a cloud), which runs in a step of its own,
   * with no transaction open.
   */
  readonly activatesLeaseInline?: boolean;
  /**
   * True when a lease of this blueprint is wholly described by its request (a working copy: a
   * repository at a commit, with merges), so an equal resource elsewhere serves it as well. An
   * active lease whose resource breaks then goes back to pending and lands on another one
   * (LeaseReacquiring), as acquired leases always do. False or absent (hosts): an active lease
   * on a broken resource ends, because what its client made there (files, processes) is gone
   * and the client must learn that from the lease, not from a fresh host under the same id. A
   * resource released on purpose (by an operator, by a policy) ends its active leases either way.
   */
  readonly leasesMoveWhenBroken?: boolean;
  activateLease(
    blueprint: BlueprintView<Config>,
    resource: ResourceView,
    lease: LeaseView,
    effects: BlueprintEffects,
  ): Promise<{ workingDirectory: string | null }>;
  /** Throws when the cleanup failed (a LeaseCleanupError if it did part of it); the lease ends anyway. */
  destroyLease(blueprint: BlueprintView<Config>, resource: ResourceView, lease: LeaseView, effects: BlueprintEffects): Promise<void | LeaseTeardown>;
  interfaces(
    blueprint: BlueprintView<Config>,
    resource: ResourceView,
    lease: LeaseView,
    effects: BlueprintEffects,
  ): Promise<LeaseInterfaces>;

  /**
   * Optional periodic health checks of active resources. A check that says no (or throws)
   * `failuresBeforeBroken` times in a row breaks the resource with its reason. Successful checks
   * append nothing.
   */
  healthPolicy?(blueprint: BlueprintView<Config>): HealthPolicy;
  checkHealth?(blueprint: BlueprintView<Config>, resource: ResourceView, effects: BlueprintEffects): Promise<Verdict>;
  /**
   * Optional, pure: a reason to release this active resource once it has no live lease (its host
   * was drained or removed from the config), or null to keep it. Evaluated with the health checks.
   */
  retireReason?(blueprint: BlueprintView<Config>, resource: ResourceView, now: Date): string | null;
  /** Optional, pure: the part of the config a resource was built on (a host's name), as failures name it in FailureScope. */
  targetOf?(resource: ResourceView): string | null;
  /** Commands one lease may run at once (default 16); one more is refused with 429. */
  commandConcurrency?(config: Config): number;
  /**
   * The TTL of leases acquired on this blueprint whose TTL is still a default (no request or
   * token chose one), counted from their acquisition; null or absent: the service's default
   * stays. See src/domain/lease-ttl.ts for the whole precedence.
   */
  defaultLeaseTtlSeconds?(config: Config): number | null;
  /**
   * Optional: checks what parseConfig cannot see but the service can, at create and PATCH (a
   * private key's environment variable is set, its file readable). Throws ValidationError
   * naming the field. Never reads out what it checks.
   */
  checkEnvironment?(config: Config): void;
  /**
   * Optional, for resources that outlive their leases on this machine (the local host): what of
   * a lease is still on the resource (directories, a cgroup), by lease id, with when it last
   * changed. The leftover sweep (src/allocator/lease-leftover-sweep.ts) removes what belongs to
   * no live lease: a teardown whose cleanup failed, an activation whose lease was never stored.
   */
  leaseLeftovers?(blueprint: BlueprintView<Config>, resource: ResourceView): Promise<LeaseLeftover[]>;
  /** Removes what `leaseLeftovers` found of one lease: its processes first, then its files. */
  removeLeaseLeftovers?(blueprint: BlueprintView<Config>, resource: ResourceView, leaseId: string): Promise<void | LeaseTeardown>;
  /** Releases what the implementation holds in this process (open connections). */
  close?(): Promise<void>;
}

/** What of one lease is on a resource: see BlueprintImplementation.leaseLeftovers. */
export interface LeaseLeftover {
  leaseId: string;
  /** The latest change to any of it (its entries' ctime): activation changes it, so an old one is not being made now. */
  changedAt: Date;
  /**
   * Found only where every Drydock on the machine keeps its leases' things (the local host's pids
   * cgroups), not under the resource: it may be another service's, so it is removed only for a
   * lease this log knows, destroyed, on this resource.
   */
  machineWide?: boolean;
}
