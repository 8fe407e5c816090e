import { parseArgs } from "node:util";
import type { DrydockClient } from "../client/drydock-client";

/**
 * `drydock hold RESOURCE_ID --reason TEXT [--for SECONDS]` and `drydock unhold RESOURCE_ID
 * [--reason TEXT]` (admin): a held resource takes no new lease and is not destroyed until the
 * hold is released or its time is up (src/domain/resource-hold.ts). Prints the resource's hold.
 */
export async function holdCommand(client: DrydockClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { reason: { type: "string" }, for: { type: "string" } }, allowPositionals: true });
  const id = positionals[0];
  if (!id || !values.reason) throw new Error("usage: drydock hold RESOURCE_ID --reason TEXT [--for SECONDS]");
  const untilSeconds = values.for === undefined ? undefined : Number(values.for);
  const resource = await client.holdResource(id, { reason: values.reason, ...(untilSeconds === undefined ? {} : { untilSeconds }) });
  const hold = resource.hold!;
  console.log(`${resource.id} on hold: ${hold.reason} (${hold.until ? `until ${hold.until}` : "until released"})`);
  return 0;
}

export async function unholdCommand(client: DrydockClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { reason: { type: "string" } }, allowPositionals: true });
  const id = positionals[0];
  if (!id) throw new Error("usage: drydock unhold RESOURCE_ID [--reason TEXT]");
  const resource = await client.releaseResourceHold(id, values.reason === undefined ? {} : { reason: values.reason });
  console.log(`${resource.id} no longer on hold (${resource.status})`);
  return 0;
}
