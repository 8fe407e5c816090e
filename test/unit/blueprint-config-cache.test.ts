import { describe, expect, it } from "vitest";
import { BlueprintRegistry } from "../../src/blueprints/blueprint-registry";
import { staticHostsBlueprint } from "../../src/blueprints/static-hosts-blueprint";
import { ValidationError } from "../../src/domain/errors";

/** The registry parses a stored blueprint's config once per version and shares it, frozen. */
const FP = "SHA256:eDPnVD1vKTipcNO1uk8ofkrp108f7uLRrxywzeu2xUA";
const host = (name: string) => ({ name, address: "10.0.0.1", user: "build", privateKey: { env: "BUILD_KEY" }, hostKeyFingerprint: FP });

function counting() {
  const impl = staticHostsBlueprint();
  let parses = 0;
  const parseConfig = impl.parseConfig.bind(impl);
  const registry = new BlueprintRegistry([{ ...impl, parseConfig: (raw: unknown) => (parses++, parseConfig(raw)) }]);
  return { registry, parses: () => parses };
}
const row = (version: number, hosts: string[], blueprintId = "bp_1") => ({ blueprint_id: blueprintId, kind: "static-hosts", version, config: { hosts: hosts.map(host) } });

describe("BlueprintRegistry.configOf", () => {
  it("parses a version once, and again when the version moves", () => {
    const { registry, parses } = counting();
    const first = registry.configOf(row(3, ["a"]));
    expect(registry.configOf(row(3, ["a"]))).toBe(first);
    expect(parses()).toBe(1);
    const changed = registry.configOf(row(4, ["a", "b"]));
    expect(parses()).toBe(2);
    expect((changed.hosts as { name: string }[]).map((h) => h.name)).toEqual(["a", "b"]);
    // Another blueprint at the same version is its own entry.
    expect((registry.configOf(row(4, ["c"], "bp_2")).hosts as { name: string }[]).map((h) => h.name)).toEqual(["c"]);
    expect(parses()).toBe(3);
  });

  it("hands out a frozen config, so no reader can change it under another", () => {
    const { registry } = counting();
    const config = registry.configOf(row(1, ["a"])) as { hosts: { name: string; attributes: { labels: string[] } }[] };
    expect(() => {
      config.hosts[0]!.name = "b";
    }).toThrow(TypeError);
    expect(() => config.hosts[0]!.attributes.labels.push("x")).toThrow(TypeError);
    expect(registry.configOf(row(1, ["a"]))).toMatchObject({ hosts: [{ name: "a", attributes: { labels: [] } }] });
  });

  it("keeps nothing from a config that does not parse", () => {
    const { registry, parses } = counting();
    const bad = { blueprint_id: "bp_1", kind: "static-hosts", version: 1, config: { hosts: [{ name: "a" }] } };
    expect(() => registry.configOf(bad)).toThrow(ValidationError);
    expect(() => registry.configOf(bad)).toThrow(ValidationError);
    expect(parses()).toBe(2);
  });
});
