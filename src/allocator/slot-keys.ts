/** Slot lock keys: the capacity rules as unique rows (see projections/capacity-projection.ts). */
export const leaseSlotKey = (resourceId: string, slot: number) => `resource:${resourceId}:slot:${slot}`;
/** What every lease slot key of the resource starts with. */
export const leaseSlotPrefix = (resourceId: string) => `resource:${resourceId}:slot:`;
/**
 * The `n`th lease a resource serves, under its blueprint's maxLeasesPerResource: each lease
 * acquired on it takes the next number, owned by the resource until it is destroyed (lockOwner),
 * so two leases decided at once on the same count cannot both land, and the count never goes
 * past the policy.
 */
export const leaseUseKey = (resourceId: string, n: number) => `resource:${resourceId}:use:${n}`;
export const leaseUsePrefix = (resourceId: string) => `resource:${resourceId}:use:`;

/** The stream that owns a lock taken by `taker`'s event: the resource for its use numbers, else the taker. */
export function lockOwner(key: string, taker: string): string {
  const use = /^resource:([^:]+):use:\d+$/.exec(key);
  return use ? `resource-${use[1]}` : taker;
}
/**
 * A client's quota as unique rows: a lease that carries a quota takes a free number of its
 * owner's below each limit that applies (every type: `quota:<owner>:all:<n>`; its type:
 * `quota:<owner>:type:<type>:<n>`), held by the lease until it ends. Two allocators deciding at
 * once for one owner at its limit can only pick the same number, so one of them loses the race
 * and decides again over the owner's new count: the quota holds under racing allocators, not
 * only at decision time.
 * Owner names have no colon (src/auth/principal.ts), so the key's second field is the owner.
 */
export const quotaPrefix = (owner: string) => `quota:${owner}:all:`;
export const quotaOfTypePrefix = (owner: string, resourceType: string) => `quota:${owner}:type:${resourceType}:`;

export const limitSlotKey = (blueprintId: string, slot: number) => `blueprint:${blueprintId}:limit:${slot}`;

export function slotNumberOf(key: string): number {
  return Number(key.slice(key.lastIndexOf(":") + 1));
}

/**
 * The resource or blueprint a lock belongs to: its key's second field, for every kind of lock
 * (`resource:<id>:slot:<n>`, `blueprint:<id>:limit:<n>`, `local-host:<blueprint>`,
 * `static-hosts:<blueprint>:<host>`). Stored beside the key so capacity reads use an index.
 */
export function scopeOfLock(key: string): string {
  return key.split(":")[1] ?? key;
}

/**
 * A lease slot taken by its resource's hold (ResourceHeld.locks), not by a lease: it guards the
 * slot against leases decided before the hold, but is no lease, so counts of live leases skip it.
 */
export function isHoldLock(lock: { lock_key: string; owner_stream_id: string }): boolean {
  // The resource's own lease slot, held by the resource's stream.
  return lock.owner_stream_id.startsWith("resource-") && lock.lock_key.startsWith(leaseSlotPrefix(lock.owner_stream_id.slice("resource-".length)));
}
