import { describe, expect, it } from "vitest";
import { namesOnPage } from "../../src/interfaces/list-page";

describe("namesOnPage", () => {
  const names = ["b", "a", "B", "é", "a2", "_", "10", "9"];

  it("sorts by code unit, not by locale, and pages after a name", () => {
    expect(namesOnPage(names)).toEqual(["10", "9", "B", "_", "a", "a2", "b", "é"]);
    expect(namesOnPage(names, { limit: 3 })).toEqual(["10", "9", "B"]);
    expect(namesOnPage(names, { after: "B", limit: 3 })).toEqual(["_", "a", "a2"]);
    expect(namesOnPage(names, { after: "é" })).toEqual([]);
  });

  it("walks a directory page by page: every name once, in order, whatever the page size", () => {
    const many = Array.from({ length: 257 }, (_, i) => `f${(i * 7919) % 1000}`);
    for (const limit of [1, 10, 256, 257, 1000]) {
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = namesOnPage(many, { limit, ...(after === undefined ? {} : { after }) });
        seen.push(...page);
        if (page.length < limit) break;
        after = page.at(-1);
      }
      expect(seen).toEqual(namesOnPage(many));
    }
  });

  it("a name that is not in the directory still marks where the page starts", () => {
    expect(namesOnPage(["a", "c", "e"], { after: "b" })).toEqual(["c", "e"]);
  });
});
