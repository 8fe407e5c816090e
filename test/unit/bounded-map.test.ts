import { describe, expect, it } from "vitest";
import { setNewest } from "../../src/domain/bounded-map";

describe("setNewest", () => {
  it("keeps at most `max` entries, forgetting the one set longest ago; setting a key again makes it the newest", () => {
    const map = new Map<string, number>();
    for (const [k, v] of [["a", 1], ["b", 2], ["c", 3]] as const) setNewest(map, k, v, 3);
    setNewest(map, "a", 10, 3); // a is the newest now: b is the oldest
    setNewest(map, "d", 4, 3);
    expect([...map]).toEqual([["c", 3], ["a", 10], ["d", 4]]);
  });
});
