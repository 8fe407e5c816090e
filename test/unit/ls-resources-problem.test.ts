import { afterEach, describe, expect, it, vi } from "vitest";
import type { DrydockClient } from "../../src/client/drydock-client";
import { lsCommand } from "../../src/cli/ls-cli";

/** `drydock ls resources` says what is wrong with each resource in its `problem` column, a teardown that keeps failing included. */
afterEach(() => vi.restoreAllMocks());

describe("drydock ls resources", () => {
  it("shows a failing teardown's count, next try and error, beside a hold", async () => {
    const base = { resourceType: "host", blueprintId: "bp_1", liveLeases: 0, leaseSlots: 2, allocatedAt: "2026-12-05T10:00:00.000Z", suspectReason: null, endReason: null };
    const failingStep = { step: "destroy", failures: 3, lastError: "UnauthorizedOperation: not authorized", lastFailedAt: "2026-12-05T10:05:00.000Z", nextAttemptAt: "2026-12-05T10:05:20.000Z" };
    const items = [
      { id: "rs_1", status: "released", ...base, hold: null, failingStep },
      { id: "rs_2", status: "active", ...base, hold: null, failingStep: null },
      { id: "rs_3", status: "broken", ...base, endReason: "health check failed", hold: { reason: "look at it", until: null, by: "admin" }, failingStep: { ...failingStep, failures: 1 } },
    ];
    const client = { listResources: async () => ({ items }) } as unknown as DrydockClient;
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    expect(await lsCommand(client, ["resources"])).toBe(0);
    expect(lines[1]).toMatch(/teardown failed 3 times \(next try 2026-12-05T10:05:20.000Z\): UnauthorizedOperation: not authorized$/);
    expect(lines[2]).toMatch(/\s-$/);
    expect(lines[3]).toMatch(/on hold: look at it \(by admin, until released\); health check failed; teardown failed 1 time \(next try [^)]+\): UnauthorizedOperation: not authorized$/);
  });
});
