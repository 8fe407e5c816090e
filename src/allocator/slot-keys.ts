/** Slot lock keys: the capacity rules as unique rows (see projections/capacity-projection.ts). */
export const leaseSlotKey = (resourceId: string, slot: number) => `resource:${resourceId}:slot:${slot}`;
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
