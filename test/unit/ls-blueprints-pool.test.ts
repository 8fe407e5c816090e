import { afterEach, describe, expect, it, vi } from "vitest";
import type { DrydockClient } from "../../src/client/drydock-client";
import { lsCommand } from "../../src/cli/ls-cli";

/** `drydock ls blueprints` shows each blueprint's pool policy (src/domain/pool-policy.ts) in its `pool` column. */
afterEach(() => vi.restoreAllMocks());

describe("drydock ls blueprints", () => {
  it("shows the pool settings that are set, and - for none", async () => {
    const base = { kind: "memory-pool", resourceType: "sandbox", enabled: true, liveResources: 1, resourceLimit: 3, failingTargets: [] };
    const items = [
      { id: "bp_1", name: "warm", ...base, minReady: 2, maxLeasesPerResource: 5, maxAgeSeconds: 86400, idleDestroySeconds: 600 },
      { id: "bp_2", name: "plain", ...base, minReady: null, maxLeasesPerResource: null, maxAgeSeconds: null, idleDestroySeconds: null },
    ];
    const client = { listBlueprints: async () => ({ items }) } as unknown as DrydockClient;
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    expect(await lsCommand(client, ["blueprints"])).toBe(0);
    expect(lines[0]).toMatch(/resourceLimit\s+pool\s+failing$/);
    expect(lines[1]).toContain("minReady 2, maxLeases 5, maxAge 86400s, idle 600s");
    expect(lines[2]).toMatch(/3\s+-\s+-$/);
  });
});
