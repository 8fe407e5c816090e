import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import type { SSEStreamingApi } from "hono/streaming";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { followLog } from "../../src/api/event-stream-route";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { TransitionRefusedError } from "../../src/domain/errors";
import { LOG_START } from "../../src/store/event-store";
import { readWholeLog } from "../support/read-log";
import { waitForLeaseStatus } from "../support/wait-for-lease";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * GET /v1/events/stream over a real socket, as an EventSource would use it: a client that drops
 * the connection while 120 leases are being requested, used and released, and reconnects with
 * Last-Event-ID (then with ?after=), has seen every event of the log exactly once, in order.
 */
let api: ApiHarness;
let server: ServerType;
let baseUrl: string;
let following = 0;

beforeAll(async () => {
  api = await startApi();
  // Count the streams following the log on the server, to see them end when the client goes.
  const watcher = api.drydock.watcher;
  const onAnyChange = watcher.onAnyChange.bind(watcher);
  watcher.onAnyChange = (listener) => {
    following++;
    const off = onAnyChange(listener);
    return () => {
      following--;
      return off();
    };
  };
  server = serve({ fetch: api.app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  await api?.close();
});

interface Message {
  id: string | null;
  data: string | null;
}

/** A minimal EventSource over fetch: yields each message (data and/or id) until aborted. */
async function* sse(path: string, headers: Record<string, string>, signal: AbortSignal): AsyncGenerator<Message> {
  let buffer = "";
  // The caller aborts once it has read enough, which may be before the answer's headers arrive
  // (its condition held already): that ends the stream like an abort mid-read.
  try {
    const res = await fetch(`${baseUrl}${path}`, { headers: { Authorization: `Bearer ${api.adminToken}`, ...headers }, signal });
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const message: Message = { id: null, data: null };
        for (const line of block.split("\n")) {
          if (line.startsWith("id: ")) message.id = line.slice(4);
          else if (line.startsWith("data: ")) message.data = (message.data === null ? "" : `${message.data}\n`) + line.slice(6);
        }
        if (message.id !== null || message.data !== null) yield message;
      }
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}

const cursorKey = (id: string) => id.split(":").map((n) => n.padStart(20, "0")).join(":");

describe("GET /v1/events/stream", () => {
  it("a client that reconnects mid-run sees every event exactly once, in log order", async () => {
    const commands = api.drydock.commands;
    const blueprintId = await api.localHostBlueprintId();
    const bp = (await api.call("GET", `/v1/blueprints/${blueprintId}`)).body;
    expect((await api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config: { ...bp.config, slots: 32 } })).status).toBe(200);

    const seen: { id: string; event: any }[] = [];
    let lastId: string | null = null;
    let connections = 0;
    /** Reads until `until()` says stop (checked on each message and every 50 ms), then drops the connection. */
    const readUntil = async (path: string, headers: Record<string, string>, until: () => boolean) => {
      const abort = new AbortController();
      const check = setInterval(() => until() && abort.abort(), 50);
      const deadline = setTimeout(() => abort.abort(), 30_000);
      connections++;
      try {
        for await (const m of sse(path, headers, abort.signal)) {
          if (m.id !== null) lastId = m.id;
          if (m.data !== null) seen.push({ id: m.id!, event: JSON.parse(m.data) });
          if (until()) break;
        }
      } finally {
        clearInterval(check);
        clearTimeout(deadline);
        abort.abort();
      }
    };

    // Writers: 120 leases; a quarter used (active, then released), the rest cancelled at once or soon.
    const leases = 120;
    let writing = true;
    const load = (async () => {
      const ids = await Promise.all(Array.from({ length: leases }, (_, i) => requestLease(commands, { resourceType: "host" }, `load-${i % 5}`, { actor: `load-${i % 5}` })));
      await Promise.all(
        ids.map(async (id, i) => {
          if (i % 4 === 0) await waitForLeaseStatus(api.drydock, id, ["active"], 30_000);
          else await new Promise((r) => setTimeout(r, Math.random() * 100));
          await releaseLease(commands, id, { actor: "load" }).catch((e) => {
            if (!(e instanceof TransitionRefusedError)) throw e;
          });
        }),
      );
      await Promise.all(ids.map((id) => waitForLeaseStatus(api.drydock, id, ["destroyed"], 30_000)));
    })().finally(() => (writing = false));

    await readUntil("/v1/events/stream", {}, () => seen.length >= 100);
    const reconnectedWhileWriting = writing;
    await new Promise((r) => setTimeout(r, 150)); // the writers go on while nobody listens
    await readUntil("/v1/events/stream", { "Last-Event-ID": lastId! }, () => seen.length >= 250);
    await new Promise((r) => setTimeout(r, 150));
    // A browser keeps its first URL and sends Last-Event-ID: the header wins over a stale ?after.
    const stale = seen[10]!.id;
    await readUntil(`/v1/events/stream?after=${stale}`, { "Last-Event-ID": lastId! }, () => seen.length >= 400 || !writing);
    await load;
    const total = (await readWholeLog(api.drydock.store)).length;
    await readUntil(`/v1/events/stream?after=${lastId!}`, {}, () => seen.length >= total);

    const log = await readWholeLog(api.drydock.store);
    expect(log.filter((e) => e.type === "LeaseRequested")).toHaveLength(leases);
    expect(reconnectedWhileWriting).toBe(true);
    expect(connections).toBe(4);
    const ids = seen.map((s) => s.event.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(log.map((e) => e.eventId).sort());
    // In (transaction id, position) order across the reconnects; each id is that event's cursor.
    const keys = seen.map((s) => cursorKey(s.id));
    expect(keys).toEqual([...keys].sort());
    expect(seen.every((s) => s.id.endsWith(`:${s.event.globalPosition}`))).toBe(true);
    await expect.poll(() => following, { timeout: 5_000 }).toBe(0);
  });

  it("filters like GET /v1/events, and moves Last-Event-ID past events that did not match", async () => {
    const log = await readWholeLog(api.drydock.store);
    const end = log.map((e) => `${e.transactionId}:${e.globalPosition}`).sort((a, b) => (cursorKey(a) < cursorKey(b) ? -1 : 1)).at(-1)!;
    const abort = new AbortController();
    const deadline = setTimeout(() => abort.abort(), 15_000);
    const messages: Message[] = [];
    for await (const m of sse("/v1/events/stream?type=LeaseRequested&actor=load-3", {}, abort.signal)) {
      messages.push(m);
      if (m.id === end) break;
    }
    clearTimeout(deadline);
    abort.abort();
    const events = messages.filter((m) => m.data !== null).map((m) => JSON.parse(m.data!));
    expect(events).toHaveLength(24);
    expect(events.every((e) => e.type === "LeaseRequested" && e.metadata.actor === "load-3")).toBe(true);
    // The last message is id-only: the cursor past the rest of the log, which did not match.
    expect(messages.at(-1)).toEqual({ id: end, data: null });
  });

  it("refuses a malformed Last-Event-ID with a 400", async () => {
    const res = await fetch(`${baseUrl}/v1/events/stream`, { headers: { Authorization: `Bearer ${api.adminToken}`, "Last-Event-ID": "yesterday" } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.message).toMatch(/last-event-id/i);
  });

  it("sends keep-alive comments while nothing happens, and stops when the client goes", async () => {
    const written: string[] = [];
    const aborts: (() => void)[] = [];
    const stream = {
      aborted: false,
      closed: false,
      async write(text: string) {
        written.push(text);
      },
      async writeSSE(m: { id?: string; data: string }) {
        written.push(`id: ${m.id}`);
      },
      onAbort(listener: () => void) {
        aborts.push(listener);
      },
    };
    const { checkpoint } = await api.drydock.store.readAll(LOG_START, { limit: 100_000 });
    const following = followLog(stream as unknown as SSEStreamingApi, api.drydock, checkpoint, { types: ["BlueprintDisabled"] }, { pollMs: 20, keepAliveMs: 100, batchSize: 10, tokenCheckMs: 60_000 });
    await expect.poll(() => written.filter((w) => w === ": keep-alive\n\n").length, { timeout: 3_000 }).toBeGreaterThanOrEqual(2);
    stream.aborted = true;
    for (const a of aborts) a();
    await following;
    expect(written[0]).toBe("retry: 2000\n\n");
  });
});
