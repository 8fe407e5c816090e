import { describe, expect, it } from "vitest";
import { PermanentFailure, TemporaryFailure } from "../../src/blueprints/failures";
import { Ec2ApiError, type Ec2Cloud, type InstanceInfo, type LaunchRequest } from "../../src/blueprints/ec2-host/ec2-cloud";
import { parseEc2HostConfig } from "../../src/blueprints/ec2-host/ec2-host-config";
import { findOrLaunch, waitForHostKey, waitForRunning, type BootTiming } from "../../src/blueprints/ec2-host/instance-boot";
import { ManualClock } from "../../src/domain/clock";

/**
 * Getting an instance up, against an in-memory EC2 (the ports of ec2-cloud.ts) and a clock the
 * test moves: adoption instead of a second launch, fallback across shapes, and the boot deadline.
 */
const config = parseEc2HostConfig({ region: "us-east-1", imageId: "ami-0abc", instanceTypes: ["c5.large", "t3.small"], subnetIds: ["subnet-a1"], sshUser: "ubuntu", privateKey: { env: "K" }, bootTimeoutSeconds: 60 });
const ids = { resourceId: "rs_1", blueprintId: "bp_1", installationId: "in-1" };

function instance(extra: Partial<InstanceInfo> = {}): InstanceInfo {
  return { instanceId: "i-0000000000000001", state: "pending", stateReason: null, privateIpAddress: "10.0.0.5", publicIpAddress: null, launchTime: new Date("2026-01-01T00:00:00Z"), instanceType: "t3.small", subnetId: "subnet-a1", spot: false, tags: {}, ...extra };
}

class FakeEc2 implements Ec2Cloud {
  launches: LaunchRequest[] = [];
  tagged: InstanceInfo[] = [];
  refuse = new Map<string, Ec2ApiError>();
  states: InstanceInfo[] = [];
  consoles: (string | null)[] = [];
  async runInstance(request: LaunchRequest) {
    this.launches.push(request);
    const error = this.refuse.get(request.instanceType ?? "");
    if (error) throw error;
    return instance({ instanceType: request.instanceType ?? null });
  }
  async describeInstances(query: { instanceIds?: string[] }) {
    if (query.instanceIds) return [this.states.length > 1 ? this.states.shift()! : this.states[0]!];
    return this.tagged;
  }
  async consoleOutput() {
    return this.consoles.length > 1 ? this.consoles.shift()! : (this.consoles[0] ?? null);
  }
  async terminateInstances(instanceIds: string[]) {
    return instanceIds.map((instanceId) => ({ instanceId, state: "shutting-down" as const }));
  }
}

function timing(clock: ManualClock, sliceMs = 30_000): BootTiming {
  return { now: () => clock.now(), sleep: async (ms) => clock.advance(ms), random: () => 0.5, sliceEnd: new Date(clock.now().getTime() + sliceMs) };
}

describe("finding or launching a resource's instance", () => {
  it("adopts the instance tagged with the resource (a lost answer, a crash) instead of launching another", async () => {
    const ec2 = new FakeEc2();
    ec2.tagged = [instance({ instanceId: "i-adopted0000000001", state: "running" })];
    expect((await findOrLaunch(ec2, config, ids)).instanceId).toBe("i-adopted0000000001");
    expect(ec2.launches).toEqual([]);
  });

  it("breaks a resource whose one instance has ended: it cannot launch another under its token", async () => {
    const ec2 = new FakeEc2();
    ec2.tagged = [instance({ state: "terminated", stateReason: "Server.SpotInstanceTermination" })];
    await expect(findOrLaunch(ec2, config, ids)).rejects.toMatchObject({ name: "PermanentFailure", code: "instance_ended", message: expect.stringContaining("Server.SpotInstanceTermination") });
  });

  it("falls back to the next type on a capacity error, with the same ClientToken", async () => {
    const ec2 = new FakeEc2();
    ec2.refuse.set("c5.large", new Ec2ApiError("InsufficientInstanceCapacity", "no c5.large", 500));
    expect((await findOrLaunch(ec2, config, ids)).instanceType).toBe("t3.small");
    expect(ec2.launches.map((l) => [l.instanceType, l.clientToken])).toEqual([["c5.large", "rs_1"], ["t3.small", "rs_1"]]);
  });

  it("backs off (temporary, EC2's code) when no shape has capacity, and stops at a configuration error", async () => {
    const ec2 = new FakeEc2();
    ec2.refuse.set("c5.large", new Ec2ApiError("InsufficientInstanceCapacity", "no c5.large", 500));
    ec2.refuse.set("t3.small", new Ec2ApiError("InstanceLimitExceeded", "limit", 400));
    const error = await findOrLaunch(ec2, config, ids).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemporaryFailure);
    expect(error).toMatchObject({ code: "InstanceLimitExceeded", message: expect.stringContaining("c5.large in subnet-a1: InsufficientInstanceCapacity; t3.small in subnet-a1: InstanceLimitExceeded") });

    const wrong = new FakeEc2();
    wrong.refuse.set("c5.large", new Ec2ApiError("InvalidAMIID.NotFound", "no such image", 400));
    await expect(findOrLaunch(wrong, config, ids)).rejects.toMatchObject({ name: "PermanentFailure", code: "InvalidAMIID.NotFound" });
    expect(wrong.launches).toHaveLength(1);
  });
});

describe("waiting for the instance", () => {
  it("polls until running, then until the console shows a host key", async () => {
    const clock = new ManualClock(new Date("2026-01-01T00:00:01Z"));
    const ec2 = new FakeEc2();
    ec2.states = [instance(), instance(), instance({ state: "running" })];
    const running = await waitForRunning(ec2, config, instance(), timing(clock));
    expect(running).toMatchObject({ address: "10.0.0.5", instance: { state: "running" } });
    ec2.consoles = [null, "booting…", "-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBD0mtQ7eQOY6oXQmbSs8AiCpoUoVG7n0ZdWb/xlmIGb root@x\n-----END SSH HOST KEY KEYS-----"];
    expect(await waitForHostKey(ec2, config, running.instance, timing(clock))).toMatchObject({ type: "ssh-ed25519", fingerprint: expect.stringMatching(/^SHA256:/) });
  });

  it("yields at the end of its slice while the boot deadline is still ahead", async () => {
    const clock = new ManualClock(new Date("2026-01-01T00:00:01Z"));
    const ec2 = new FakeEc2();
    ec2.states = [instance()];
    await expect(waitForRunning(ec2, config, instance(), timing(clock, 5_000))).rejects.toMatchObject({ name: "TemporaryFailure", code: "instance_booting" });
  });

  it("refuses an instance that shows no host key by the boot deadline, counted from its launch time", async () => {
    const clock = new ManualClock(new Date("2026-01-01T00:00:30Z"));
    const ec2 = new FakeEc2();
    ec2.consoles = ["Cloud-init v. 24.1 finished"];
    const error = await waitForHostKey(ec2, config, instance({ state: "running" }), timing(clock, 120_000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentFailure);
    expect(error).toMatchObject({ code: "host_key_missing", message: expect.stringContaining("printed no SSH host key on its console") });
    // The deadline is launch + 60 s: it gave up at 00:01:00, not 60 s after it started looking.
    expect(clock.now().getTime()).toBe(new Date("2026-01-01T00:01:00Z").getTime());
  });

  it("breaks when the instance dies while booting", async () => {
    const clock = new ManualClock(new Date("2026-01-01T00:00:01Z"));
    const ec2 = new FakeEc2();
    ec2.states = [instance({ state: "terminated", stateReason: "Server.InternalError: Internal error on launch" })];
    await expect(waitForRunning(ec2, config, instance(), timing(clock))).rejects.toMatchObject({ name: "PermanentFailure", code: "instance_ended" });
  });
});

describe("polling through throttling", () => {
  it("a throttled poll is a poll that saw nothing: the wait goes on", async () => {
    const clock = new ManualClock(new Date("2026-01-01T00:00:01Z"));
    const ec2 = new FakeEc2();
    let calls = 0;
    ec2.describeInstances = async () => {
      calls++;
      if (calls <= 2) throw new Ec2ApiError("RequestLimitExceeded", "Request limit exceeded.", 503);
      return [instance({ state: "running" })];
    };
    expect((await waitForRunning(ec2, config, instance(), timing(clock))).instance.state).toBe("running");
    expect(calls).toBe(3);
  });
});
