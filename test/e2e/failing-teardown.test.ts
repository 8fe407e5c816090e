import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inlineProjections } from "../../projections/index";
import type { StepRetry } from "../../src/allocator/worker";
import { rebuildProjections } from "../../src/store/rebuild-projections";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * A resource whose teardown keeps failing (a cloud that refuses to terminate its instance, for
 * want of a permission) is tried again with a wait that doubles from the worker's first retry
 * delay up to its maximum, not every few seconds for ever; operators see the step, how often it
 * failed, its error and its next try on the resource, in `drydock ls resources` and in the
 * metrics; a fix to the blueprint tries it again at once, and the count ends with the resource.
 */
let api: ApiHarness;
/** How far the service's clock runs ahead of the machine's: the test moves it past each retry delay. */
let aheadMs = 0;
const failures: { streamId: string; retry: StepRetry | undefined }[] = [];
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 8_000;

beforeAll(async () => {
  api = await startApi(
    {},
    {
      localHost: false,
      blueprints: [memoryPoolBlueprint()],
      worker: false,
      clock: { now: () => new Date(Date.now() + aheadMs) },
      // Jitter at its top: each delay is 0.995 × its step.
      random: () => 0.99,
      workerOptions: { failureRetryMs: FIRST_RETRY_MS, failureRetryMaxMs: MAX_RETRY_MS },
      onWorkerError: (_error, streamId, retry) => failures.push({ streamId, retry }),
    },
  );
});
afterAll(async () => {
  await api?.close();
});

const workItem = (resourceId: string) => api.drydock.database.db.selectFrom("work_items").selectAll().where("stream_id", "=", `resource-${resourceId}`).executeTakeFirst();
const failingGauge = async () => {
  const text = (await api.call("GET", "/metrics")).text;
  const line = text.split("\n").find((l) => l.startsWith('drydock_work_items_failing{step="destroy"}'));
  if (!line) throw new Error(`no drydock_work_items_failing{step="destroy"} in /metrics:\n${text}`);
  return Number(line.split(" ").at(-1));
};

describe("a teardown that keeps failing", () => {
  it("backs off, says why where operators look, and is tried at once after a fix", async () => {
    const blueprint = await api.call("POST", "/v1/blueprints", { name: "no-terminate", kind: "memory-pool", config: { labels: ["nt"], failDestroy: true } });
    expect(blueprint.status).toBe(201);
    const requested = await api.call("POST", "/v1/leases", { resourceType: "sandbox", attributes: { labels: ["nt"] } });
    expect(requested.status).toBe(202);
    const lease = await api.runDueWorkUntil(requested.body.id, "active");
    const resourceId: string = lease.resourceId;
    expect((await api.call("POST", `/v1/leases/${lease.id}/release`, {})).status).toBe(200);
    expect((await api.call("POST", `/v1/resources/${resourceId}/release`, { reason: "retired" })).status).toBe(200);
    expect(await failingGauge()).toBe(0);

    // Each try fails; the next is due after twice the wait before, up to the maximum.
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 5; attempt++) {
      await api.runDueWork();
      const item = await workItem(resourceId);
      expect(item).toMatchObject({ kind: "destroy", failures: attempt, last_error: expect.stringMatching(/UnauthorizedOperation/) });
      const failedAt = new Date(item!.last_failed_at!).getTime();
      waits.push(new Date(item!.claimed_until!).getTime() - failedAt);
      // Nothing is due until the wait is over: running the due work now tries nothing.
      await api.runDueWork();
      expect((await workItem(resourceId))!.failures).toBe(attempt);
      aheadMs += new Date(item!.claimed_until!).getTime() - api.drydock.clock.now().getTime() + 10;
    }
    expect(waits).toEqual([995, 1990, 3980, 7960, 7960]);
    expect(failures.filter((f) => f.streamId === `resource-${resourceId}`).map((f) => f.retry?.failures)).toEqual([1, 2, 3, 4, 5]);

    // Where an operator looks: the resource, `drydock ls resources`' source, the console's, and the metrics.
    const shown = await api.call("GET", `/v1/resources/${resourceId}`);
    expect(shown.body).toMatchObject({ status: "released", failingStep: { step: "destroy", failures: 5, lastError: expect.stringMatching(/not authorized to perform TerminateInstances/) } });
    const item = await workItem(resourceId);
    expect(shown.body.failingStep).toMatchObject({ lastFailedAt: new Date(item!.last_failed_at!).toISOString(), nextAttemptAt: new Date(item!.claimed_until!).toISOString() });
    const listed = await api.call("GET", "/v1/resources?status=released");
    expect(listed.body.items.find((r: { id: string }) => r.id === resourceId)).toMatchObject({ failingStep: { failures: 5 } });
    expect(await failingGauge()).toBe(1);
    // As of a past time, the log answers: a step's failures are not in it.
    const asOf = await api.call("GET", `/v1/resources/${resourceId}?asOf=${encodeURIComponent(new Date().toISOString())}`);
    expect(asOf.status).toBe(200);
    expect(asOf.body).toMatchObject({ status: "released", failingStep: null });

    // A rebuild of the projections keeps the count, as it keeps claims.
    await rebuildProjections(api.drydock.database.db, inlineProjections);
    expect(await workItem(resourceId)).toMatchObject({ failures: 5, last_error: expect.stringMatching(/UnauthorizedOperation/) });

    // A PATCH ends the waits of failed teardowns, never the claim of one running now (in another
    // worker, say): ended, a second worker would run the same teardown beside it.
    const waiting = (await workItem(resourceId))!;
    expect(waiting.claimed_by).toMatch(/^retry:/);
    await api.drydock.database.db.updateTable("work_items").set({ claimed_by: "w-elsewhere#1" }).where("stream_id", "=", `resource-${resourceId}`).execute();
    expect((await api.call("GET", `/v1/resources/${resourceId}`)).body.failingStep).toMatchObject({ failures: 5, nextAttemptAt: null });
    expect((await api.call("PATCH", `/v1/blueprints/${blueprint.body.id}`, { config: { labels: ["nt"], failDestroy: true, slots: 3 } })).status).toBe(200);
    await api.drydock.notifier.flush();
    expect(new Date((await workItem(resourceId))!.claimed_until!).getTime()).toBe(new Date(waiting.claimed_until!).getTime());
    await api.drydock.database.db.updateTable("work_items").set({ claimed_by: waiting.claimed_by }).where("stream_id", "=", `resource-${resourceId}`).execute();

    // The fix: the blueprint's PATCH ends the wait, and the teardown goes through.
    expect((await api.call("PATCH", `/v1/blueprints/${blueprint.body.id}`, { config: { labels: ["nt"], failDestroy: false } })).status).toBe(200);
    await api.runDueWork();
    const destroyed = await api.call("GET", `/v1/resources/${resourceId}`);
    expect(destroyed.body).toMatchObject({ status: "destroyed", failingStep: null });
    expect(await workItem(resourceId)).toBeUndefined();
    expect(await failingGauge()).toBe(0);
  });

  it("a teardown that says when to try again (a host that is down) keeps that pace, however often it fails", async () => {
    const blueprint = await api.call("POST", "/v1/blueprints", { name: "host-down", kind: "memory-pool", config: { labels: ["down"], failDestroy: true, failDestroyRetryAfterMs: 3_000 } });
    const requested = await api.call("POST", "/v1/leases", { resourceType: "sandbox", attributes: { labels: ["down"] } });
    const lease = await api.runDueWorkUntil(requested.body.id, "active");
    expect((await api.call("POST", `/v1/leases/${lease.id}/release`, {})).status).toBe(200);
    expect((await api.call("POST", `/v1/resources/${lease.resourceId}/release`, {})).status).toBe(200);
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 6; attempt++) {
      await api.runDueWork();
      const item = (await workItem(lease.resourceId))!;
      expect(item.failures).toBe(attempt);
      waits.push(new Date(item.claimed_until!).getTime() - new Date(item.last_failed_at!).getTime());
      aheadMs += new Date(item.claimed_until!).getTime() - api.drydock.clock.now().getTime() + 10;
    }
    // Not 3 s, 6 s, 12 s…: the host that answers again rejoins within one of its intervals.
    expect(waits).toEqual([3_000, 3_000, 3_000, 3_000, 3_000, 3_000]);
    expect((await api.call("PATCH", `/v1/blueprints/${blueprint.body.id}`, { config: { labels: ["down"] } })).status).toBe(200);
    await api.runDueWork();
    expect((await api.call("GET", `/v1/resources/${lease.resourceId}`)).body).toMatchObject({ status: "destroyed", failingStep: null });
  });

  it("a step that runs without failing ends the count, even when it appends nothing", async () => {
    const requested = await api.call("POST", "/v1/leases", { resourceType: "sandbox", attributes: { labels: ["nt"] }, ttlSeconds: 3600 });
    const lease = await api.runDueWorkUntil(requested.body.id, "active");
    // Its item (the expiry, an hour away) as if its last two tries had failed and the wait were over.
    const streamId = `lease-${lease.id}`;
    const past = new Date(api.drydock.clock.now().getTime() - 1_000);
    await api.drydock.database.db
      .updateTable("work_items")
      .set({ run_at: past, claimed_by: "retry:w-gone#1", claimed_until: past, failures: 2, last_error: "the database went away", last_failed_at: past })
      .where("stream_id", "=", streamId)
      .execute();
    await api.runDueWork();
    // The step found nothing to do (the lease has not expired): no event, and no failure left.
    expect((await api.call("GET", `/v1/leases/${lease.id}`)).body.status).toBe("active");
    expect(await api.drydock.database.db.selectFrom("work_items").selectAll().where("stream_id", "=", streamId).executeTakeFirst()).toMatchObject({ failures: 0, last_error: null, claimed_by: null });
    expect((await api.call("POST", `/v1/leases/${lease.id}/release`, {})).status).toBe(200);
  });
});
