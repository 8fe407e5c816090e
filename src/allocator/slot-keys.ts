/** Slot lock keys: the capacity rules as unique rows (see projections/capacity-projection.ts). */
export const leaseSlotKey = (resourceId: string, slot: number) => `resource:${resourceId}:slot:${slot}`;
export const limitSlotKey = (blueprintId: string, slot: number) => `blueprint:${blueprintId}:limit:${slot}`;

export function slotNumberOf(key: string): number {
  return Number(key.slice(key.lastIndexOf(":") + 1));
}
