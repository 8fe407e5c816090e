import { DescribeInstanceStatusCommand, DescribeInstancesCommand, EC2Client, GetConsoleOutputCommand, RunInstancesCommand, TerminateInstancesCommand, CreateTagsCommand, type Instance } from "@aws-sdk/client-ec2";
import { createHash } from "node:crypto";
import { Client } from "ssh2";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startEc2Emulator, type Ec2Emulator } from "../support/ec2-emulator/emulator";
import { sshdAvailable, sshdMissingMessage } from "../support/sshd";
import { waitUntil } from "../support/wait-until";

/**
 * The EC2 emulator through the real SDK: the EC2Client serializes the Query API and parses the
 * XML (answers and error documents) exactly as it would against EC2. Its instances are real sshd
 * processes, reached with the host key printed on the console pinned.
 */
if (!sshdAvailable) console.warn(`skipping the EC2 emulator tests: ${sshdMissingMessage}`);
const describeSsh = sshdAvailable ? describe : describe.skip;

let emulator: Ec2Emulator;
let ec2: EC2Client;

beforeAll(async () => {
  if (!sshdAvailable) return;
  emulator = await startEc2Emulator({ bootDelayMs: 0, terminateDelayMs: 100 });
  ec2 = client(emulator);
});

afterEach(() => emulator?.faults.clear());

afterAll(async () => {
  ec2?.destroy();
  await emulator?.close();
});

function client(target: Ec2Emulator, maxAttempts = 1): EC2Client {
  return new EC2Client({
    region: target.region,
    endpoint: target.endpoint,
    credentials: { accessKeyId: "AKIDEMULATOR", secretAccessKey: "emulator-secret" },
    maxAttempts,
  });
}

const launch = (token: string, extra: Partial<ConstructorParameters<typeof RunInstancesCommand>[0]> = {}) =>
  new RunInstancesCommand({
    ImageId: "ami-0abcdef1234567890",
    InstanceType: "t3.micro",
    MinCount: 1,
    MaxCount: 1,
    ClientToken: token,
    KeyName: emulator.keyPair.name,
    SubnetId: "subnet-0a1b2c3d",
    SecurityGroupIds: ["sg-0a1b2c3d"],
    TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "drydock:resource", Value: token }, { Key: "team", Value: "build" }] }],
    ...extra,
  });

async function describeOne(instanceId: string): Promise<Instance> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return out.Reservations![0]!.Instances![0]!;
}

const untilState = (instanceId: string, states: string[]) =>
  waitUntil(`${instanceId} in ${states.join("/")}`, async () => {
    const instance = await describeOne(instanceId);
    return states.includes(instance.State!.Name!) ? instance : undefined;
  }, 15_000);

/** The host key block of a console, as the SDK returns it (base64). */
function hostKeyOf(outputBase64: string | undefined): string | undefined {
  if (!outputBase64) return undefined;
  const text = Buffer.from(outputBase64, "base64").toString("utf8");
  const block = /-----BEGIN SSH HOST KEY KEYS-----\r?\n([\s\S]*?)-----END SSH HOST KEY KEYS-----/.exec(text)?.[1];
  return block?.split(/\r?\n/).find((line) => line.startsWith("ssh-ed25519 "));
}

/** Connects with the key pair, accepting only the given host key; runs `argv` and returns its stdout. */
function sshRun(address: string, hostKeyLine: string, command: string): Promise<string> {
  const pinned = Buffer.from(hostKeyLine.split(" ")[1]!, "base64");
  return new Promise((resolve, reject) => {
    const conn = new Client();
    conn.on("error", reject);
    conn.on("ready", () =>
      conn.exec(command, (err, stream) => {
        if (err) return reject(err);
        let out = "";
        stream.on("data", (b: Buffer) => (out += b.toString()));
        stream.stderr.resume();
        stream.on("close", () => {
          conn.end();
          resolve(out);
        });
      }),
    );
    conn.connect({
      host: address,
      port: emulator.sshPort,
      username: emulator.sshUser,
      privateKey: emulator.keyPair.privateKey,
      readyTimeout: 5_000,
      hostVerifier: (key: Buffer) => createHash("sha256").update(key).digest().equals(createHash("sha256").update(pinned).digest()),
    });
  });
}

describeSsh("EC2 emulator through the real EC2Client", () => {
  it("runs an instance with its tags, describes it by tag, shows the host key on the console, tags and terminates it", async () => {
    const launched = await ec2.send(launch("lifecycle-1"));
    const first = launched.Instances![0]!;
    expect(launched.ReservationId).toMatch(/^r-[0-9a-f]{17}$/);
    expect(first.InstanceId).toMatch(/^i-[0-9a-f]{17}$/);
    expect(first.State).toEqual({ Code: 0, Name: "pending" });
    expect(first.InstanceType).toBe("t3.micro");
    expect(first.ClientToken).toBe("lifecycle-1");
    expect(first.Tags).toEqual(expect.arrayContaining([{ Key: "drydock:resource", Value: "lifecycle-1" }, { Key: "team", Value: "build" }]));

    const running = await untilState(first.InstanceId!, ["running"]);
    expect(running.State).toEqual({ Code: 16, Name: "running" });
    expect(running.PrivateIpAddress).toMatch(/^127\.\d+\.\d+\.\d+$/);
    expect(running.PublicIpAddress).toBe(running.PrivateIpAddress);
    expect(running.SubnetId).toBe("subnet-0a1b2c3d");
    expect(running.SecurityGroups).toEqual([{ GroupId: "sg-0a1b2c3d" }]);

    const byTag = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "tag:drydock:resource", Values: ["lifecycle-1"] }, { Name: "instance-state-name", Values: ["pending", "running"] }] }));
    expect(byTag.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId))).toEqual([first.InstanceId]);
    const byToken = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "client-token", Values: ["lifecycle-1"] }] }));
    expect(byToken.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId))).toEqual([first.InstanceId]);
    const byKey = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "tag-key", Values: ["team"] }] }));
    expect(byKey.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId))).toContain(first.InstanceId);

    const status = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [first.InstanceId!] }));
    expect(status.InstanceStatuses![0]).toMatchObject({ InstanceId: first.InstanceId, InstanceState: { Name: "running" }, InstanceStatus: { Status: "ok" }, SystemStatus: { Status: "ok" } });

    const console_ = await ec2.send(new GetConsoleOutputCommand({ InstanceId: first.InstanceId! }));
    expect(console_.InstanceId).toBe(first.InstanceId);
    expect(hostKeyOf(console_.Output)).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ root@ip-127-/);

    await ec2.send(new CreateTagsCommand({ Resources: [first.InstanceId!], Tags: [{ Key: "Name", Value: "build-1" }] }));
    expect((await describeOne(first.InstanceId!)).Tags).toEqual(expect.arrayContaining([{ Key: "Name", Value: "build-1" }, { Key: "team", Value: "build" }]));

    const terminated = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [first.InstanceId!] }));
    expect(terminated.TerminatingInstances).toEqual([{ InstanceId: first.InstanceId, PreviousState: { Code: 16, Name: "running" }, CurrentState: { Code: 32, Name: "shutting-down" } }]);
    const gone = await untilState(first.InstanceId!, ["terminated"]);
    expect(gone.State).toEqual({ Code: 48, Name: "terminated" });
    expect(gone.StateReason?.Code).toBe("Client.UserInitiatedShutdown");
    // Terminated instances are no longer running: DescribeInstanceStatus leaves them out by default.
    expect((await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [first.InstanceId!] }))).InstanceStatuses).toEqual([]);
    expect(emulator.accessKeyIds()).toContain("AKIDEMULATOR");
  });

  it("launches once per ClientToken: the same token answers the same instance; other parameters are refused", async () => {
    const before = emulator.launchedCount;
    const a = await ec2.send(launch("idem-1"));
    const b = await ec2.send(launch("idem-1"));
    expect(b.Instances!.map((i) => i.InstanceId)).toEqual(a.Instances!.map((i) => i.InstanceId));
    expect(b.ReservationId).toBe(a.ReservationId);
    expect(emulator.launchedCount).toBe(before + 1);
    await expect(ec2.send(launch("idem-1", { InstanceType: "m5.large" }))).rejects.toMatchObject({ name: "IdempotentParameterMismatch", $metadata: { httpStatusCode: 400 } });
    expect(emulator.launchedCount).toBe(before + 1);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a.Instances![0]!.InstanceId!] }));
  });

  it("launches MaxCount instances, each on its own address", async () => {
    const out = await ec2.send(launch("many-1", { MinCount: 1, MaxCount: 3 }));
    const ids = out.Instances!.map((i) => i.InstanceId!);
    expect(ids).toHaveLength(3);
    expect(new Set(out.Instances!.map((i) => i.PrivateIpAddress)).size).toBe(3);
    expect(out.Instances!.map((i) => i.AmiLaunchIndex)).toEqual([0, 1, 2]);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  });

  it("after a lost response, a retry with the same ClientToken gets the instance the lost call launched", async () => {
    const before = emulator.launchedCount;
    emulator.faults.loseResponse("RunInstances");
    const lost = await ec2.send(launch("lost-1")).then(
      () => null,
      (error: Error) => error,
    );
    expect(lost).toBeInstanceOf(Error);
    expect(emulator.launchedCount).toBe(before + 1);
    const retried = await ec2.send(launch("lost-1"));
    expect(emulator.launchedCount).toBe(before + 1);
    const [found] = emulator.instances().filter((i) => i.spec.clientToken === "lost-1");
    expect(retried.Instances![0]!.InstanceId).toBe(found!.instanceId);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [found!.instanceId] }));
  });

  it.each([
    ["InsufficientInstanceCapacity", 500],
    ["InstanceLimitExceeded", 400],
    ["InvalidAMIID.NotFound", 400],
    ["UnauthorizedOperation", 400],
    ["InvalidParameterValue", 400],
    ["InvalidSubnetID.NotFound", 400],
    ["Unavailable", 503],
    ["InternalError", 500],
  ])("an injected %s arrives in the SDK as that code (HTTP %i), and launches nothing", async (code, status) => {
    const before = emulator.launchedCount;
    emulator.faults.failNext("RunInstances", code, { message: `injected ${code}` });
    const error = await ec2.send(launch(`fault-${code}`)).catch((e: unknown) => e as Error & { Code?: string; $metadata: { httpStatusCode?: number } });
    expect(error).toMatchObject({ name: code, Code: code, message: `injected ${code}`, $metadata: { httpStatusCode: status } });
    expect(emulator.launchedCount).toBe(before);
  });

  it("fails only the launches that match a fault's condition (capacity for one instance type)", async () => {
    emulator.faults.failNext("RunInstances", "InsufficientInstanceCapacity", { times: 5, when: { instanceType: "c5.large" } });
    await expect(ec2.send(launch("cap-1", { InstanceType: "c5.large" }))).rejects.toMatchObject({ name: "InsufficientInstanceCapacity" });
    const other = await ec2.send(launch("cap-1", { InstanceType: "t3.small" }));
    expect(other.Instances![0]!.InstanceType).toBe("t3.small");
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [other.Instances![0]!.InstanceId!] }));
  });

  it("throttles the next N calls with RequestLimitExceeded (503), then answers", async () => {
    emulator.faults.throttle("DescribeInstances", 2);
    for (let i = 0; i < 2; i++) {
      await expect(ec2.send(new DescribeInstancesCommand({}))).rejects.toMatchObject({ name: "RequestLimitExceeded", $metadata: { httpStatusCode: 503 } });
    }
    await expect(ec2.send(new DescribeInstancesCommand({}))).resolves.toHaveProperty("Reservations");
    // The SDK's own retries ride out throttling too: three attempts, two throttled.
    emulator.faults.throttle("DescribeInstances", 2);
    const patient = client(emulator, 3);
    const calls = emulator.calls("DescribeInstances");
    await expect(patient.send(new DescribeInstancesCommand({}))).resolves.toHaveProperty("Reservations");
    expect(emulator.calls("DescribeInstances")).toBe(calls + 3);
    patient.destroy();
  });

  it("refuses unknown instances and malformed ids as EC2 does", async () => {
    await expect(ec2.send(new DescribeInstancesCommand({ InstanceIds: ["i-0123456789abcdef0"] }))).rejects.toMatchObject({ name: "InvalidInstanceID.NotFound" });
    await expect(ec2.send(new TerminateInstancesCommand({ InstanceIds: ["nonsense"] }))).rejects.toMatchObject({ name: "InvalidInstanceID.Malformed" });
    await expect(ec2.send(launch("bad-ami", { ImageId: "not-an-ami" }))).rejects.toMatchObject({ name: "InvalidAMIID.Malformed" });
    await expect(ec2.send(launch("bad-key", { KeyName: "someone-elses" }))).rejects.toMatchObject({ name: "InvalidKeyPair.NotFound" });
  });

  it("an instance is a real sshd: ssh2 connects with the console's host key pinned and runs uname; terminating it stops sshd", async () => {
    const out = await ec2.send(launch("ssh-1"));
    const id = out.Instances![0]!.InstanceId!;
    const running = await untilState(id, ["running"]);
    const hostKey = hostKeyOf((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output);
    expect(hostKey).toBeDefined();
    expect(await sshRun(running.PrivateIpAddress!, hostKey!, "uname -s")).toBe("Linux\n");

    // Another instance's key is not this one's: the pinned check would refuse an impostor.
    const other = await ec2.send(launch("ssh-2"));
    const otherId = other.Instances![0]!.InstanceId!;
    const otherRunning = await untilState(otherId, ["running"]);
    await expect(sshRun(otherRunning.PrivateIpAddress!, hostKey!, "true")).rejects.toThrow();

    // A session open across the termination is cut; once terminated, nothing listens there.
    const session = sshRun(running.PrivateIpAddress!, hostKey!, "sleep 30; echo survived");
    await new Promise((r) => setTimeout(r, 300));
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id, otherId] }));
    await untilState(id, ["terminated"]);
    expect(await session.catch(() => "cut")).not.toContain("survived");
    await expect(sshRun(running.PrivateIpAddress!, hostKey!, "true")).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("faults on instances: a slow boot stays pending, a hidden host key never shows, a dying instance ends terminated", async () => {
    emulator.faults.slowBoot(1_500);
    const slow = (await ec2.send(launch("slow-1"))).Instances![0]!.InstanceId!;
    await new Promise((r) => setTimeout(r, 500));
    expect((await describeOne(slow)).State!.Name).toBe("pending");
    expect((await ec2.send(new GetConsoleOutputCommand({ InstanceId: slow }))).Output).toBeUndefined();
    await untilState(slow, ["running"]);

    emulator.faults.hideHostKey();
    const hidden = (await ec2.send(launch("hidden-1"))).Instances![0]!.InstanceId!;
    await untilState(hidden, ["running"]);
    const text = Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: hidden }))).Output!, "base64").toString();
    expect(text).toContain("Cloud-init");
    expect(text).not.toContain("SSH HOST KEY");

    emulator.faults.dieWhileRunning(300);
    const dying = (await ec2.send(launch("dying-1"))).Instances![0]!.InstanceId!;
    const wasRunning = await untilState(dying, ["running"]);
    const died = await untilState(dying, ["terminated"]);
    expect(died.StateReason?.Code).toBe("Server.InternalError");
    const hostKey = hostKeyOf((await ec2.send(new GetConsoleOutputCommand({ InstanceId: dying }))).Output)!;
    await expect(sshRun(wasRunning.PrivateIpAddress!, hostKey, "true")).rejects.toMatchObject({ code: "ECONNREFUSED" });

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [slow, hidden] }));
  });

  it("counts calls per action and instances ever launched", async () => {
    const counted = await startEc2Emulator();
    const c = client(counted);
    try {
      await c.send(new DescribeInstancesCommand({}));
      await c.send(new RunInstancesCommand({ ImageId: "ami-12345678", InstanceType: "t3.micro", MinCount: 2, MaxCount: 2 }));
      expect(counted.calls("DescribeInstances")).toBe(1);
      expect(counted.calls("RunInstances")).toBe(1);
      expect(counted.calls()).toBe(2);
      expect(counted.launchedCount).toBe(2);
    } finally {
      c.destroy();
      await counted.close();
    }
  });

  it("takes faults and shows its state over its control endpoint (the standalone mode)", async () => {
    const post = await fetch(`${emulator.endpoint}/_emulator/faults`, {
      method: "POST",
      body: JSON.stringify({ action: "RunInstances", code: "InsufficientInstanceCapacity", times: 1, when: { instanceType: "m5.large" } }),
    });
    expect(post.status).toBe(200);
    await expect(ec2.send(launch("control-1", { InstanceType: "m5.large" }))).rejects.toMatchObject({ name: "InsufficientInstanceCapacity" });
    const ok = await ec2.send(launch("control-1", { InstanceType: "m5.large" }));
    const state = (await (await fetch(`${emulator.endpoint}/_emulator/state`)).json()) as { calls: Record<string, number>; launched: number; instances: { instanceId: string }[] };
    expect(state.calls.RunInstances).toBe(emulator.calls("RunInstances"));
    expect(state.launched).toBe(emulator.launchedCount);
    expect(state.instances.map((i) => i.instanceId)).toContain(ok.Instances![0]!.InstanceId);
    const bad = await fetch(`${emulator.endpoint}/_emulator/faults`, { method: "POST", body: JSON.stringify({ action: "Reboot", code: "X" }) });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("not an emulated action");
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [ok.Instances![0]!.InstanceId!] }));
  });
});
