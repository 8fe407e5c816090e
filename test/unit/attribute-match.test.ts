import { describe, expect, it } from "vitest";
import { matchAttributes } from "../../src/blueprints/attribute-match";
import { yes } from "../../src/blueprints/blueprint";

describe("matchAttributes", () => {
  const offered = { region: "eu", size: 4, gpu: false, labels: ["ssd", "fast", "x86"], tags: { team: "a" } };

  it("matches anything when nothing is wanted", () => {
    expect(matchAttributes({}, offered)).toEqual(yes);
    expect(matchAttributes({}, {})).toEqual(yes);
  });

  it("matches when every wanted key has an equal value", () => {
    expect(matchAttributes({ region: "eu", size: 4, gpu: false }, offered)).toEqual({ ok: true });
    expect(matchAttributes({ tags: { team: "a" } }, offered)).toEqual({ ok: true });
  });

  it("mismatches on an unequal value, naming the key and both values", () => {
    const v = matchAttributes({ region: "us" }, offered);
    expect(v.ok).toBe(false);
    if (v.ok) throw new Error("unreachable");
    expect(v.reason).toContain("region");
    expect(v.reason).toBe('region is "eu", lease wants "us"');
  });

  it("compares by value, not by loose equality", () => {
    expect(matchAttributes({ size: "4" }, offered).ok).toBe(false);
    expect(matchAttributes({ gpu: 0 }, offered).ok).toBe(false);
    expect(matchAttributes({ tags: { team: "b" } }, offered).ok).toBe(false);
  });

  it("mismatches when the resource lacks a wanted key, naming the key", () => {
    const v = matchAttributes({ zone: "eu-1" }, offered);
    expect(v).toEqual({ ok: false, reason: "has no attribute zone" });
  });

  it("treats a key present with a null value as present", () => {
    expect(matchAttributes({ owner: null }, { owner: null }).ok).toBe(true);
    expect(matchAttributes({ owner: null }, {}).ok).toBe(false);
  });

  it("labels ask for a subset of the resource's labels", () => {
    expect(matchAttributes({ labels: [] }, offered).ok).toBe(true);
    expect(matchAttributes({ labels: ["ssd"] }, offered).ok).toBe(true);
    expect(matchAttributes({ labels: ["x86", "ssd"] }, offered).ok).toBe(true);
    expect(matchAttributes({ labels: ["ssd", "fast", "x86"] }, offered).ok).toBe(true);
  });

  it("a single label may be given without an array", () => {
    expect(matchAttributes({ labels: "fast" }, offered).ok).toBe(true);
    expect(matchAttributes({ labels: "slow" }, offered).ok).toBe(false);
  });

  it("missing labels are a mismatch naming them", () => {
    const v = matchAttributes({ labels: ["ssd", "arm", "gpu"] }, offered);
    expect(v).toEqual({ ok: false, reason: "lacks labels arm, gpu" });
  });

  it("a resource without labels has none", () => {
    expect(matchAttributes({ labels: ["ssd"] }, { region: "eu" })).toEqual({ ok: false, reason: "lacks labels ssd" });
    expect(matchAttributes({ labels: ["ssd"] }, { labels: "ssd" }).ok).toBe(false);
    expect(matchAttributes({ labels: [] }, { region: "eu" }).ok).toBe(true);
  });

  it("every wanted key must match, not just one", () => {
    expect(matchAttributes({ region: "eu", labels: ["ssd"], size: 8 }, offered).ok).toBe(false);
    expect(matchAttributes({ region: "eu", labels: ["arm"], size: 4 }, offered).ok).toBe(false);
    expect(matchAttributes({ region: "eu", labels: ["ssd"], size: 4 }, offered).ok).toBe(true);
  });

  it("extra attributes on the resource do not matter", () => {
    expect(matchAttributes({ region: "eu" }, { ...offered, extra: 1 }).ok).toBe(true);
  });
});
