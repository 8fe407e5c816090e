import { describe, expect, it } from "vitest";
import { LeaseActivations } from "../../src/allocator/lease-activations";

describe("LeaseActivations", () => {
  it("lets one activation hold a lease at a time; other leases are not held up", () => {
    const activations = new LeaseActivations();
    const release = activations.tryHold("ls_a");
    expect(release).not.toBeNull();
    expect(activations.tryHold("ls_a")).toBeNull();
    const other = activations.tryHold("ls_b");
    expect(other).not.toBeNull();
    release!();
    other!();
    const again = activations.tryHold("ls_a");
    expect(again).not.toBeNull();
    again!();
  });

  it("hold waits for the holder's release, then holds; waiters take it one after another", async () => {
    const activations = new LeaseActivations();
    const first = activations.tryHold("ls_a")!;
    const order: string[] = [];
    const second = activations.hold("ls_a").then((release) => {
      order.push("second");
      return release;
    });
    const third = activations.hold("ls_a").then((release) => {
      order.push("third");
      return release;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual([]);
    first();
    const releaseSecond = await second;
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(["second"]);
    expect(activations.tryHold("ls_a")).toBeNull();
    releaseSecond();
    (await third)();
    expect(order).toEqual(["second", "third"]);
    expect(activations.tryHold("ls_a")).not.toBeNull();
  });
});
