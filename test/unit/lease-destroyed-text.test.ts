import { describe, expect, it } from "vitest";
import { validateForAppend } from "../../events/catalogue";
import type { RecordedEvent } from "../../events/envelope";
import { describeEvent } from "../../src/cli/lease-cli";
import { titleOf } from "../../src/history/explain-text";

/** How LeaseDestroyed's killed processes read in `drydock explain` and `drydock history`. */
function destroyed(data: Record<string, unknown>): RecordedEvent {
  const { data: valid, version } = validateForAppend("LeaseDestroyed", data);
  return {
    globalPosition: 9,
    transactionId: "9",
    eventId: "e9",
    streamId: "lease-ls_a",
    streamVersion: 9,
    type: "LeaseDestroyed",
    version,
    data: valid,
    metadata: { actor: "worker:w-1" },
    recordedAt: new Date("2026-04-01T08:00:00.000Z"),
  };
}
const history = (e: RecordedEvent) => describeEvent({ ...e, recordedAt: e.recordedAt.toISOString(), data: e.data as Record<string, unknown> });

describe("LeaseDestroyed's killed processes", () => {
  it("says how many were killed and names the first three", () => {
    const e = destroyed({
      cleanupError: null,
      killedProcesses: [1, 2, 3, 4].map((i) => ({ pid: 100 + i, command: `sleep ${i}` })),
      killedProcessesOmitted: 6,
    });
    expect(titleOf(e)).toBe("destroyed, killed 10 processes it left running: 101 sleep 1, 102 sleep 2, 103 sleep 3 and 7 more");
    expect(history(e)).toBe("2026-04-01T08:00:00.000Z  #9 LeaseDestroyed  killed 10 processes it left running: 101 sleep 1, 102 sleep 2, 103 sleep 3 and 7 more");
  });

  it("says nothing of processes when none were killed, or when the event predates the field; keeps the cleanup error", () => {
    expect(titleOf(destroyed({ cleanupError: null, killedProcesses: [] }))).toBe("destroyed");
    expect(titleOf(destroyed({ cleanupError: null }))).toBe("destroyed");
    const failed = destroyed({ cleanupError: "cannot remove /tmp/x on h: exit 1", killedProcesses: [{ pid: 7, command: "make" }] });
    expect(titleOf(failed)).toBe("destroyed, killed 1 process it left running: 7 make (cleanup failed: cannot remove /tmp/x on h: exit 1)");
    expect(history(failed)).toContain("LeaseDestroyed  killed 1 process it left running: 7 make; cleanup failed: cannot remove /tmp/x on h: exit 1");
  });

  it("refuses an unbounded list in the event", () => {
    const many = Array.from({ length: 101 }, (_, i) => ({ pid: i + 1, command: "x" }));
    expect(() => destroyed({ cleanupError: null, killedProcesses: many })).toThrow(/killedProcesses/);
    expect(() => destroyed({ cleanupError: null, killedProcesses: [{ pid: 1, command: "x".repeat(201) }] })).toThrow(/killedProcesses/);
  });
});
