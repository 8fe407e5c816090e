/**
 * Every append, from every writer, is checked against the stream's machine inside the store,
 * before it commits; and a stream's one row carries its folded state, which commands and worker
 * steps read instead of the stream.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streamIdOf } from "../../events/envelope";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { leaseFolder } from "../../src/machines/fold";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { IllegalAppendError } from "../../src/store/stream-state";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

let database: TestDatabase;
let drydock: Drydock;
let root: string;
const worker = { actor: "allocator:test" };

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-legality-"));
  drydock = await createDrydock({ database, localHost: { root, slots: 2 }, worker: false });
});
afterAll(async () => {
  await drydock.close();
  await database.close();
  await rm(root, { recursive: true, force: true });
});

const eventCount = async () => Number((await sql<{ n: number }>`select count(*)::int as n from events`.execute(drydock.database.db)).rows[0]!.n);
const streamRow = (streamId: string) => drydock.database.db.selectFrom("streams").select(["version", "state"]).where("stream_id", "=", streamId).executeTakeFirstOrThrow();

describe("the store refuses an illegal append from any writer", () => {
  it("a worker's event that the machine does not allow from the stored state", async () => {
    const leaseId = await requestLease(drydock.commands, { resourceType: "host" }, "ci", { actor: "ci" });
    const stream = streamIdOf("lease", leaseId);
    const before = { events: await eventCount(), row: await streamRow(stream) };
    // A pending lease cannot be activated: it was never acquired.
    const append = drydock.store.append(stream, 1, [{ type: "LeaseActivated", data: { workingDirectory: null } }], worker);
    await expect(append).rejects.toBeInstanceOf(IllegalAppendError);
    await expect(append).rejects.toThrow(/LeaseActivated is not allowed when pending/);
    expect(await eventCount()).toBe(before.events);
    expect(await streamRow(stream)).toEqual(before.row);
  });

  it("an event of another stream type, and a legal event after an illegal one in the same append", async () => {
    const leaseId = await requestLease(drydock.commands, { resourceType: "host" }, "ci", { actor: "ci" });
    const stream = streamIdOf("lease", leaseId);
    const before = await eventCount();
    await expect(drydock.store.append(stream, 1, [{ type: "ResourceActivated", data: { attributes: {} } }], worker)).rejects.toBeInstanceOf(IllegalAppendError);
    const mixed = [
      { type: "LeaseReleased", data: { reason: "requested", detail: null } },
      { type: "LeaseActivated", data: { workingDirectory: null } },
    ];
    await expect(drydock.store.append(stream, 1, mixed, worker)).rejects.toThrow(/LeaseActivated is not allowed when released/);
    expect(await eventCount()).toBe(before);
  });

  it("across streams in one append: one illegal stream refuses all of them", async () => {
    const a = await requestLease(drydock.commands, { resourceType: "host" }, "ci", { actor: "ci" });
    const b = await requestLease(drydock.commands, { resourceType: "host" }, "ci", { actor: "ci" });
    const before = await eventCount();
    const appends = [
      { streamId: streamIdOf("lease", a), expectedVersion: 1, events: [{ type: "LeaseReleased", data: { reason: "requested", detail: null } }] },
      { streamId: streamIdOf("lease", b), expectedVersion: 1, events: [{ type: "LeaseDestroyed", data: { cleanupError: null } }] },
    ];
    await expect(drydock.store.appendMany(appends, worker)).rejects.toBeInstanceOf(IllegalAppendError);
    expect(await eventCount()).toBe(before);
    expect((await drydock.store.loadState(streamIdOf("lease", a)))!.status).toBe("pending");
  });
});

describe("a stream's row carries its folded state", () => {
  it("equals the fold of its events after each command", async () => {
    const leaseId = await requestLease(drydock.commands, { resourceType: "host" }, "ci", { actor: "ci" });
    const stream = streamIdOf("lease", leaseId);
    await releaseLease(drydock.commands, leaseId, { actor: "ci" });
    const loaded = await drydock.store.loadState(stream);
    const folded = leaseFolder.fold(await drydock.store.readStream(stream)).state;
    expect(loaded).toEqual({ status: folded.status, context: folded.context, version: folded.version });
    expect(loaded!.status).toBe("released");
  });

  it("is folded once from the events for a stream stored before it existed, then kept", async () => {
    const leaseId = await requestLease(drydock.commands, { resourceType: "host" }, "ci", { actor: "ci" });
    const stream = streamIdOf("lease", leaseId);
    const expected = await drydock.store.loadState(stream);
    await drydock.database.db.updateTable("streams").set({ state: null }).where("stream_id", "=", stream).execute();
    expect(await drydock.store.loadState(stream)).toEqual(expected);
    expect((await streamRow(stream)).state).not.toBeNull();
    // And the store checks an append against it as against any other.
    await expect(drydock.store.append(stream, 1, [{ type: "LeaseDestroyed", data: { cleanupError: null } }], worker)).rejects.toBeInstanceOf(IllegalAppendError);
    await releaseLease(drydock.commands, leaseId, { actor: "ci" });
    expect((await drydock.store.loadState(stream))!.status).toBe("released");
  });
});
