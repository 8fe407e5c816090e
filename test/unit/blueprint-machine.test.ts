import { describe, expect, it } from "vitest";
import { blueprintEventSchemas, type BlueprintEventType } from "../../events/blueprint-events";
import { blueprintMachine, type BlueprintMachineEvent, type BlueprintStatus } from "../../src/machines/blueprint-machine";
import { blueprintFolder } from "../../src/machines/fold";
import { describeMachineContract } from "../support/machine-contract";
import { machineHarness, type TransitionTable } from "../support/machine-harness";
import { blueprintSampleEvents } from "../support/machine-events";

/** The legal transitions of a blueprint: a missing event type is refused in that state (see TransitionTable). */
const TRANSITIONS: TransitionTable<BlueprintStatus, BlueprintEventType> = {
  new: {
    BlueprintCreated: "enabled",
  },
  enabled: {
    BlueprintUpdated: "enabled",
    BlueprintDisabled: "disabled",
    BlueprintTargetFailed: "enabled",
    BlueprintTargetRecovered: "enabled",
    BlueprintInstanceReaped: "enabled",
  },
  disabled: {
    BlueprintUpdated: "disabled",
    BlueprintEnabled: "enabled",
    BlueprintTargetFailed: "disabled",
    BlueprintTargetRecovered: "disabled",
    BlueprintInstanceReaped: "disabled",
  },
};

const blueprint = machineHarness({
  name: "blueprint",
  machine: blueprintMachine,
  folder: blueprintFolder,
  streamId: "blueprint-bp-1",
  states: ["new", "enabled", "disabled"],
  eventSchemas: blueprintEventSchemas,
  samples: blueprintSampleEvents,
});
const { ev, fold } = blueprint;

describeMachineContract({
  harness: blueprint,
  transitions: TRANSITIONS,
  shortestPaths: {
    new: [],
    enabled: ["BlueprintCreated"],
    disabled: ["BlueprintCreated", "BlueprintDisabled"],
  },
  // walked by "a blueprint can be disabled and enabled any number of times" below
  cycle: { to: "enabled", edges: ["disabled --BlueprintEnabled--> enabled"] },
  refusals: [
    [[ev("BlueprintUpdated")], 1, "BlueprintUpdated", "new"],
    [[ev("BlueprintCreated"), ev("BlueprintCreated")], 2, "BlueprintCreated", "enabled"],
    [[ev("BlueprintCreated"), ev("BlueprintEnabled")], 2, "BlueprintEnabled", "enabled"],
    [[ev("BlueprintCreated"), ev("BlueprintDisabled"), ev("BlueprintDisabled")], 3, "BlueprintDisabled", "disabled"],
  ],
});

describe("blueprint machine graph", () => {
  it("spot checks a reviewer cares about", () => {
    const nodes = blueprint.snapshotsByState();
    const accepted = blueprint.acceptedIn;
    expect(accepted("new")).toEqual(["BlueprintCreated"]);
    expect(accepted("enabled")).toEqual(["BlueprintUpdated", "BlueprintDisabled", "BlueprintTargetFailed", "BlueprintTargetRecovered", "BlueprintInstanceReaped"]);
    expect(accepted("disabled")).toEqual(["BlueprintUpdated", "BlueprintEnabled", "BlueprintTargetFailed", "BlueprintTargetRecovered", "BlueprintInstanceReaped"]);
    // no final state: a blueprint is never deleted, only disabled
    for (const node of nodes.values()) expect(node.state.status).toBe("active");
  });
});

describe("blueprint transitions, edge by edge", () => {
  it("a blueprint can be disabled and enabled any number of times", () => {
    const toggle = [ev("BlueprintDisabled"), ev("BlueprintEnabled")];
    const events = [ev("BlueprintCreated"), ...toggle, ...toggle, ev("BlueprintDisabled")];
    expect(fold(events)).toMatchObject({ status: "disabled", version: 6 });
  });
});

describe("blueprint context", () => {
  const created = ev("BlueprintCreated");

  it("BlueprintCreated records the blueprint", () => {
    const { status, context } = fold([created]);
    expect(status).toBe("enabled");
    expect(context).toEqual({ ...created.data, createdAt: created.at, failingTargets: [] });
  });

  it("a failing target is recorded until the config changes or the blueprint is enabled; a recovery removes it", () => {
    const failed = ev("BlueprintTargetFailed");
    const again = { ...failed, at: "2024-05-01T10:05:00.000Z", data: { ...failed.data, failures: 2, retryAt: "2024-05-01T10:07:00.000Z" } };
    const twice = fold([created, failed, again]);
    // One record per target; `since` is when its failures in a row began.
    expect(twice.context.failingTargets).toEqual([{ target: "build-2", code: "host_key_mismatch", message: failed.data.message, failures: 2, since: failed.at, retryAt: "2024-05-01T10:07:00.000Z" }]);
    expect(fold([created, failed, ev("BlueprintTargetRecovered")]).context.failingTargets).toEqual([]);
    // A rename is no fix; a config change may be.
    expect(fold([created, failed, ev("BlueprintUpdated")]).context.failingTargets).toHaveLength(1);
    const fixed = { type: "BlueprintUpdated" as const, at: "2024-05-01T10:06:00.000Z", data: { config: { command: "make-host" } } };
    expect(fold([created, failed, fixed]).context.failingTargets).toEqual([]);
    const disabled = ev("BlueprintDisabled");
    expect(fold([created, disabled, failed]).context.failingTargets).toHaveLength(1);
    expect(fold([created, disabled, failed, ev("BlueprintEnabled")]).context.failingTargets).toEqual([]);
  });

  it("BlueprintUpdated changes only the fields it carries; null resourceLimit means no limit", () => {
    const updated = fold([created, ev("BlueprintUpdated")]);
    expect(updated.context).toMatchObject({ name: "hosts-v2", config: created.data.config, resourceLimit: null });

    const configOnly: BlueprintMachineEvent = {
      type: "BlueprintUpdated",
      at: "2024-05-01T10:10:00.000Z",
      data: { config: { command: "make-host-v2" } },
    };
    expect(blueprintEventSchemas.BlueprintUpdated.parse(configOnly.data)).toEqual(configOnly.data);
    expect(fold([created, configOnly]).context).toMatchObject({
      name: "hosts",
      config: { command: "make-host-v2" },
      resourceLimit: 3,
    });
  });

  it("updates apply while disabled and survive re-enabling", () => {
    const { status, context } = fold([created, ev("BlueprintDisabled"), ev("BlueprintUpdated"), ev("BlueprintEnabled")]);
    expect(status).toBe("enabled");
    expect(context).toMatchObject({ name: "hosts-v2", resourceLimit: null, createdAt: created.at });
  });
});
