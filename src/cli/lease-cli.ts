import { once } from "node:events";
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { killedText } from "../history/explain-text";
import type { DrydockClient } from "../client/drydock-client";
import { DrydockError } from "../client/http";
import type { Lease, StoredEvent } from "../client/wire-types";
import { notice, onTermination } from "./termination";

const ENDED = new Set(["broken", "released", "destroyed"]);

/** One line per event, as an operator reads a lease's history. */
export function describeEvent(e: Pick<StoredEvent, "type" | "data" | "recordedAt" | "streamVersion">): string {
  // Each event type's data is its own (events/*); these are the fields the line shows.
  const d = (e.data ?? {}) as Record<string, unknown>;
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
      case "LeaseQuotaChanged":
        return String(d.reason ?? "");
      case "LeaseDestroyed":
        return [killedText(d as Parameters<typeof killedText>[0]), d.cleanupError ? `cleanup failed: ${d.cleanupError}` : ""].filter(Boolean).join("; ");
      default:
        return "";
    }
  })();
  return `${e.recordedAt}  #${e.streamVersion} ${e.type}${detail ? `  ${detail}` : ""}`;
}

/** `drydock lease --type host [--wait[=S]] [--keep] [--ttl S] [--priority N] [--attr k=v]... [--blueprint ID]...` */
export async function leaseCommand(client: DrydockClient, args: string[]): Promise<number> {
  // `--wait` alone waits up to 10 minutes; `--wait=S` says how long.
  const normalized = args.map((a) => (a === "--wait" ? "--wait=600" : a));
  const { values } = parseArgs({
    args: normalized,
    options: {
      type: { type: "string", short: "t" },
      wait: { type: "string" },
      keep: { type: "boolean" },
      ttl: { type: "string" },
      priority: { type: "string" },
      attr: { type: "string", multiple: true },
      blueprint: { type: "string", multiple: true },
    },
    allowPositionals: false,
  });
  if (!values.type) throw new Error("--type is required (e.g. --type host)");
  const waitSeconds = values.wait === undefined ? null : Number(values.wait);
  if (waitSeconds !== null && !(Number.isFinite(waitSeconds) && waitSeconds >= 0)) throw new Error(`--wait takes seconds, not ${values.wait}`);
  const attributes: Record<string, unknown> = {};
  for (const kv of values.attr ?? []) {
    const eq = kv.indexOf("=");
    if (eq < 1) throw new Error(`--attr takes key=value, not ${kv}`);
    const key = kv.slice(0, eq);
    const value = kv.slice(eq + 1);
    // Lists: `labels=gpu,big`, and a working copy's `merges=feature,D123` (refs or commits).
    attributes[key] = key === "labels" || key === "merges" ? value.split(",").filter(Boolean) : value;
  }
  const body = {
    resourceType: values.type,
    ...(Object.keys(attributes).length ? { attributes } : {}),
    ...(values.ttl ? { ttlSeconds: Number(values.ttl) } : {}),
    // The service checks it (a whole number; above 0 for admins only) and names the field.
    ...(values.priority !== undefined ? { priority: Number(values.priority) } : {}),
    ...(values.blueprint?.length ? { blueprintIds: values.blueprint } : {}),
  };
  const keep = values.keep === true;

  // Until its id is printed, the lease is drydock's to give back: on Ctrl-C or SIGTERM (what
  // `timeout` and a cancelled CI job send), pending or active, it is released, unless --keep.
  // A signal during the request itself waits for its answer, so a lease made meanwhile is not lost.
  let created: Promise<Lease | null> = Promise.resolve(null);
  const forget = onTermination(async (why) => {
    const lease = await created.catch(() => null);
    if (!lease) return;
    if (keep) notice(`drydock: ${why}: lease ${lease.id} kept (--keep)`);
    else notice(`drydock: ${why}: ${await giveBack(client, lease.id)}`);
  });
  try {
    created = client.requestLease(body);
    const lease = (await created)!;
    if (waitSeconds === null) {
      forget();
      console.log(lease.id);
      return 0;
    }
    const final = await followLease(client, lease.id, Date.now() + waitSeconds * 1000);
    if (final.status === "active") {
      forget();
      console.log(lease.id);
      return 0;
    }
    if (ENDED.has(final.status)) {
      console.error(`lease ${lease.id} is ${final.status}${final.endReason ? `: ${final.endReason}` : ""}`);
      return 1;
    }
    // The time is up and it is still pending (or acquired): nobody has its id, so it goes back.
    const still = `lease ${lease.id} is still ${final.status} after ${waitSeconds} s${final.waitReason ? ` (${final.waitReason})` : ""}`;
    if (keep) {
      forget();
      console.error(`drydock: ${still}; kept (--keep)`);
      console.log(lease.id);
      return 1;
    }
    console.error(`drydock: ${still}`);
    console.error(`drydock: ${await giveBack(client, lease.id)}`);
    return 1;
  } finally {
    forget();
  }
}

/** Releases a lease drydock asked for and gave no one; says what became of it. */
async function giveBack(client: DrydockClient, id: string): Promise<string> {
  try {
    await client.releaseLease(id, { signal: AbortSignal.timeout(15_000) });
    return `lease ${id} released`;
  } catch (error) {
    // 409: it ended meanwhile, nothing to give back.
    if (error instanceof DrydockError && error.status === 409) return `lease ${id} had already ended`;
    return `lease ${id} could not be released (${error instanceof Error ? error.message : String(error)}): run drydock release ${id}`;
  }
}

/** Prints the lease's events to stderr as they are appended, until it is active or ended. */
async function followLease(client: DrydockClient, id: string, deadline: number): Promise<Lease> {
  let seen = 0;
  for (;;) {
    // Status first, then events: the events read after it include the one that settled the
    // lease, so the last line printed is never missing.
    // TODO: follow GET /v1/events/stream once clients may read it (it is admin-only today).
    const lease = await client.getLease(id);
    const { items } = await client.leaseEvents(id);
    for (const e of items.slice(seen)) console.error(describeEvent(e));
    seen = Math.max(seen, items.length);
    if (lease.status === "active" || ENDED.has(lease.status) || Date.now() > deadline) return lease;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function releaseCommand(client: DrydockClient, args: string[]): Promise<number> {
  if (args.length === 0) throw new Error("usage: drydock release LEASE_ID...");
  for (const id of args) {
    const lease = await client.releaseLease(id);
    console.log(`${lease.id} ${lease.status}`);
  }
  return 0;
}

export async function historyCommand(client: DrydockClient, args: string[]): Promise<number> {
  const [id] = args;
  if (!id) throw new Error("usage: drydock history LEASE_ID");
  const { items } = await client.leaseEvents(id);
  for (const e of items) console.log(describeEvent(e));
  return 0;
}

/** `drydock put LEASE PATH [FILE]` (stdin when FILE is absent) and `drydock get LEASE PATH`. */
export async function putCommand(client: DrydockClient, args: string[]): Promise<number> {
  const [id, path, file] = args;
  if (!id || !path) throw new Error("usage: drydock put LEASE_ID PATH [LOCAL_FILE]");
  // As it is read, however large: a file or stdin streams to the lease.
  // The file is opened first, so one that cannot be read is said before anything is sent.
  const source = file === undefined ? process.stdin : (await open(file, "r")).createReadStream();
  const data = Readable.toWeb(source) as ReadableStream<Uint8Array>;
  await client.writeFile(id, path, data);
  return 0;
}

export async function getCommand(client: DrydockClient, args: string[]): Promise<number> {
  const [id, path] = args;
  if (!id || !path) throw new Error("usage: drydock get LEASE_ID PATH");
  // As it arrives, however large: a closed stdout ends the CLI (termination.ts), a transfer cut
  // short fails it.
  const file = await client.openFile(id, path);
  for await (const chunk of file.body) {
    if (!process.stdout.write(chunk)) await once(process.stdout, "drain");
  }
  return 0;
}
