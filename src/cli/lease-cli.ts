import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { killedText } from "../history/explain-text";
import type { DrydockClient } from "./api-client";

interface Lease {
  id: string;
  status: string;
  resourceId: string | null;
  waitReason: string | null;
  endReason: string | null;
}
interface StoredEvent {
  streamVersion: number;
  type: string;
  recordedAt: string;
  data: Record<string, unknown>;
}

const ENDED = new Set(["broken", "released", "destroyed"]);

/** One line per event, as an operator reads a lease's history. */
export function describeEvent(e: StoredEvent): string {
  const d = e.data;
  const detail = (() => {
    switch (e.type) {
      case "LeaseRequested":
        return `type=${d.resourceType}${d.expiresAt ? ` expires=${d.expiresAt}` : ""}`;
      case "AllocationAttempted":
        return String(d.summary ?? "");
      case "LeaseWaiting":
      case "LeaseYielded":
        return `${d.reason} (retry by ${d.retryAt})`;
      case "LeaseAcquired":
        return `resource=${d.resourceId} slot=${d.slot}`;
      case "LeaseActivated":
        return d.workingDirectory ? `dir=${d.workingDirectory}` : "";
      case "LeaseReleased":
        return `${d.reason}${d.detail ? `: ${d.detail}` : ""}`;
      case "LeaseBroken":
      case "LeaseReacquiring":
        return String(d.reason ?? "");
      case "LeaseDestroyed":
        return [killedText(d as Parameters<typeof killedText>[0]), d.cleanupError ? `cleanup failed: ${d.cleanupError}` : ""].filter(Boolean).join("; ");
      default:
        return "";
    }
  })();
  return `${e.recordedAt}  #${e.streamVersion} ${e.type}${detail ? `  ${detail}` : ""}`;
}

/** `drydock lease --type host [--wait[=S]] [--ttl S] [--attr k=v]... [--blueprint ID]...` */
export async function leaseCommand(client: DrydockClient, args: string[]): Promise<number> {
  // `--wait` alone waits up to 10 minutes; `--wait=S` says how long.
  const normalized = args.map((a) => (a === "--wait" ? "--wait=600" : a));
  const { values } = parseArgs({
    args: normalized,
    options: {
      type: { type: "string", short: "t" },
      wait: { type: "string" },
      ttl: { type: "string" },
      attr: { type: "string", multiple: true },
      blueprint: { type: "string", multiple: true },
    },
    allowPositionals: false,
  });
  if (!values.type) throw new Error("--type is required (e.g. --type host)");
  const attributes: Record<string, unknown> = {};
  for (const kv of values.attr ?? []) {
    const eq = kv.indexOf("=");
    if (eq < 1) throw new Error(`--attr takes key=value, not ${kv}`);
    const key = kv.slice(0, eq);
    const value = kv.slice(eq + 1);
    attributes[key] = key === "labels" ? value.split(",").filter(Boolean) : value;
  }
  const body = {
    resourceType: values.type,
    ...(Object.keys(attributes).length ? { attributes } : {}),
    ...(values.ttl ? { ttlSeconds: Number(values.ttl) } : {}),
    ...(values.blueprint?.length ? { blueprintIds: values.blueprint } : {}),
  };
  const lease = await client.request<Lease>("POST", "/v1/leases", body);
  if (values.wait === undefined) {
    console.log(lease.id);
    return 0;
  }
  const waitSeconds = Number(values.wait);
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0) throw new Error(`--wait takes seconds, not ${values.wait}`);
  // Until the lease is active, Ctrl-C gives it back rather than leaving it to its TTL.
  const abandon = async () => {
    await client.request("POST", `/v1/leases/${lease.id}/release`, {}).catch(() => {});
    process.exit(130);
  };
  process.once("SIGINT", abandon);
  try {
    const final = await followLease(client, lease.id, Date.now() + waitSeconds * 1000);
    if (final.status === "active") {
      console.log(lease.id);
      return 0;
    }
    console.error(`lease ${lease.id} is ${final.status}${final.endReason ? `: ${final.endReason}` : final.waitReason ? ` (${final.waitReason})` : ""}`);
    return 1;
  } finally {
    process.off("SIGINT", abandon);
  }
}

/** Prints the lease's events to stderr as they are appended, until it is active or ended. */
async function followLease(client: DrydockClient, id: string, deadline: number): Promise<Lease> {
  let seen = 0;
  for (;;) {
    // Status first, then events: the events read after it include the one that settled the
    // lease, so the last line printed is never missing.
    // TODO: follow GET /v1/events/stream once clients may read it (it is admin-only today).
    const lease = await client.request<Lease>("GET", `/v1/leases/${id}`);
    const { items } = await client.request<{ items: StoredEvent[] }>("GET", `/v1/leases/${id}/events`);
    for (const e of items.slice(seen)) console.error(describeEvent(e));
    seen = Math.max(seen, items.length);
    if (lease.status === "active" || ENDED.has(lease.status) || Date.now() > deadline) return lease;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function releaseCommand(client: DrydockClient, args: string[]): Promise<number> {
  if (args.length === 0) throw new Error("usage: drydock release LEASE_ID...");
  for (const id of args) {
    const lease = await client.request<Lease>("POST", `/v1/leases/${id}/release`, {});
    console.log(`${lease.id} ${lease.status}`);
  }
  return 0;
}

export async function historyCommand(client: DrydockClient, args: string[]): Promise<number> {
  const [id] = args;
  if (!id) throw new Error("usage: drydock history LEASE_ID");
  const { items } = await client.request<{ items: StoredEvent[] }>("GET", `/v1/leases/${id}/events`);
  for (const e of items) console.log(describeEvent(e));
  return 0;
}

/** `drydock put LEASE PATH [FILE]` (stdin when FILE is absent) and `drydock get LEASE PATH`. */
export async function putCommand(client: DrydockClient, args: string[]): Promise<number> {
  const [id, path, file] = args;
  if (!id || !path) throw new Error("usage: drydock put LEASE_ID PATH [LOCAL_FILE]");
  const data = readFileSync(file ?? 0);
  await client.request("PUT", `/v1/leases/${id}/files/${path.split("/").map(encodeURIComponent).join("/")}`, new Uint8Array(data), { headers: { "content-type": "application/octet-stream" } });
  return 0;
}

export async function getCommand(client: DrydockClient, args: string[]): Promise<number> {
  const [id, path] = args;
  if (!id || !path) throw new Error("usage: drydock get LEASE_ID PATH");
  const bytes = await client.request<Uint8Array>("GET", `/v1/leases/${id}/files/${path.split("/").map(encodeURIComponent).join("/")}`);
  process.stdout.write(bytes);
  return 0;
}
