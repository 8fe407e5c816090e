import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readWholeLog } from "../support/read-log";
import { testDialect } from "../support/test-database";
import { waitUntil } from "../support/wait-until";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * Reading the log from the beginning needs no cursor from an earlier read: `after=0`, an empty
 * `after=` or none at all start at the first event, on GET /v1/events and on its SSE stream
 * (where `Last-Event-ID: 0` does the same).
 */
let api: ApiHarness;
let firstEventId: string;

beforeAll(async () => {
  api = await startApi();
  // Something in the log besides the local-host blueprint the service starts with.
  expect((await api.call("POST", "/v1/leases", { resourceType: "host" })).status).toBe(202);
  firstEventId = (await readWholeLog(api.drydock.store))[0]!.eventId;
  // On PostgreSQL a transaction in flight in another test's database holds commit-safe reads
  // back for a moment (xids are cluster-wide): wait until the first event is readable at all.
  // Once readable, no earlier event can appear: the pages compared below hold still.
  await waitUntil("the first three events to be readable over HTTP", async () => (await api.call("GET", "/v1/events?limit=3")).body.items.length === 3, 15_000);
});
afterAll(async () => {
  await api?.close();
});

/** The first `data:` message of an SSE response (then the stream is cancelled). */
async function firstMessage(res: Response): Promise<{ id: string; event: any }> {
  expect(res.status).toBe(200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended before any event: ${JSON.stringify(buffer)}`);
      buffer += value;
      for (const block of buffer.split("\n\n").slice(0, -1)) {
        const lines = block.split("\n");
        const data = lines.find((l) => l.startsWith("data: "));
        if (data) return { id: lines.find((l) => l.startsWith("id: "))!.slice(4), event: JSON.parse(data.slice(6)) };
      }
    }
  } finally {
    await reader.cancel();
  }
}

describe(`the start of the log (${testDialect})`, () => {
  it("GET /v1/events?after=0 reads from the first event, like no cursor and an empty one", async () => {
    const pages = await Promise.all(["?after=0&limit=3", "?limit=3", "?after=&limit=3", "?after=0:0&limit=3"].map((q) => api.call("GET", `/v1/events${q}`)));
    for (const page of pages) expect(page.status).toBe(200);
    const [fromZero, ...others] = pages.map((p) => p.body);
    expect(fromZero.items[0]).toMatchObject({ eventId: firstEventId, type: "BlueprintCreated" });
    for (const other of others) expect(other).toEqual(fromZero);

    // Its nextCursor goes on from there.
    const next = await api.call("GET", `/v1/events?after=${fromZero.nextCursor}&limit=3`);
    expect(next.status).toBe(200);
    expect(next.body.items.map((e: any) => e.eventId)).not.toContain(firstEventId);
  });

  it("other bare numbers are still not cursors: 400 naming `after`, saying 0 is the start", async () => {
    for (const after of ["12", "00", "-1", "0:"]) {
      const res = await api.call("GET", `/v1/events?after=${after}`);
      expect(res.status, after).toBe(400);
      expect(res.body.error.code).toBe("validation_failed");
      expect(res.body.error.message).toMatch(/^after: not a cursor \(<transactionId>:<position>, or 0 for the start of the log\)/);
    }
  });

  it("the SSE stream starts at the first event with Last-Event-ID: 0, or ?after=0", async () => {
    for (const [path, headers] of [
      ["/v1/events/stream", { "Last-Event-ID": "0" }],
      ["/v1/events/stream?after=0", {}],
    ] as const) {
      const first = await firstMessage(await api.app.request(path, { headers }));
      expect(first.event).toMatchObject({ eventId: firstEventId, type: "BlueprintCreated" });
      expect(first.id).toMatch(new RegExp(`^\\d+:${first.event.globalPosition}$`));
    }
    const bad = await api.app.request("/v1/events/stream", { headers: { "Last-Event-ID": "7" } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.message).toMatch(/last-event-id/i);
  });
});
