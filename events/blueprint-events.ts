import { z } from "zod";

/**
 * The pool policy (src/domain/pool-policy.ts), each optional and nullable as maxLeaseSeconds is:
 * absent (and in events recorded before pools) or null: no such policy.
 */
const poolPolicyFields = {
  /** Keep this many resources ready (pending or active with a free slot); 0 or null: no warm pool. */
  minReady: z.number().int().min(0).nullable().optional(),
  /** A resource that has served this many leases takes no new one and is released after its last. */
  maxLeasesPerResource: z.number().int().positive().nullable().optional(),
  /** A resource active this long takes no new lease and is released after its last. */
  maxAgeSeconds: z.number().int().positive().nullable().optional(),
  /** An active resource with no lease this long is released, but never below minReady. */
  idleDestroySeconds: z.number().int().positive().nullable().optional(),
};

/**
 * Events of a blueprint stream (`blueprint-<id>`). `config` is the implementation's own config,
 * validated by the implementation's schema before it is appended; it holds references to secrets
 * (an env var name, a file path), never the secrets.
 */
export const blueprintEventSchemas = {
  BlueprintCreated: z.object({
    blueprintId: z.string(),
    name: z.string(),
    kind: z.string(),
    resourceType: z.string(),
    config: z.record(z.string(), z.unknown()),
    /** At most this many live resources; null means no limit. */
    resourceLimit: z.number().int().positive().nullable(),
    /**
     * The cap on a lease's life (src/domain/lease-ttl.ts): no lease of this blueprint expires
     * later than its request time plus this, however it is renewed. Absent (and in events
     * recorded before caps) or null: no cap; optional, so older events read as they are.
     */
    maxLeaseSeconds: z.number().int().positive().nullable().optional(),
    ...poolPolicyFields,
  }),
  BlueprintUpdated: z.object({
    name: z.string().optional(),
    config: z.record(z.string(), z.unknown()).optional(),
    resourceLimit: z.number().int().positive().nullable().optional(),
    /** A new cap (null: none); absent: unchanged. */
    maxLeaseSeconds: z.number().int().positive().nullable().optional(),
    /** A new pool policy per field (null: none); absent: unchanged. */
    ...poolPolicyFields,
  }),
  BlueprintDisabled: z.object({ reason: z.string().nullable() }),
  BlueprintEnabled: z.object({}),
  /**
   * Building on one part of the config (a host: `target` is its name) failed for a reason that
   * retrying cannot fix: a configuration error (a pinned host key that does not match, a key that
   * cannot be read, refused authentication, a missing ready command), or, with `cause`
   * "shortage", the provider had nothing to build with (EC2's InsufficientInstanceCapacity on every
   * instance type and subnet). The allocator builds nothing more on that target until `retryAt`,
   * a config change (BlueprintUpdated) or an enable; a shortage sends leases to other blueprints.
   */
  BlueprintTargetFailed: z.object({
    target: z.string(),
    /** Absent in records stored before shortages were recorded: a configuration error. */
    cause: z.enum(["configuration", "shortage"]).optional(),
    code: z.string(),
    message: z.string(),
    /** Failures of this target in a row, this one included: the wait before a retry doubles. */
    failures: z.number().int().positive(),
    retryAt: z.string().datetime({ offset: true }),
  }),
  /** A resource on the target activated again (someone fixed the host itself): the record goes. */
  BlueprintTargetRecovered: z.object({ target: z.string() }),
  /**
   * The EC2 leak reaper terminated an instance of this blueprint that no live resource owns (its
   * resource destroyed, broken or unknown to the log), after two passes a grace period apart.
   */
  BlueprintInstanceReaped: z.object({
    instanceId: z.string(),
    resourceId: z.string().nullable(),
    region: z.string(),
    reason: z.string(),
  }),
} as const;

export type BlueprintEventType = keyof typeof blueprintEventSchemas;
export type BlueprintEventData<T extends BlueprintEventType> = z.infer<(typeof blueprintEventSchemas)[T]>;
export type BlueprintEvent = {
  [T in BlueprintEventType]: { type: T; data: BlueprintEventData<T> };
}[BlueprintEventType];

export const blueprintEventVersions: Record<BlueprintEventType, number> = {
  BlueprintCreated: 1,
  BlueprintUpdated: 1,
  BlueprintDisabled: 1,
  BlueprintEnabled: 1,
  BlueprintTargetFailed: 1,
  BlueprintTargetRecovered: 1,
  BlueprintInstanceReaped: 1,
};
