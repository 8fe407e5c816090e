import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { BlueprintView } from "../../src/blueprints/blueprint";
import { PermanentFailure, TemporaryFailure } from "../../src/blueprints/failures";
import { Ec2ApiError } from "../../src/blueprints/ec2-host/ec2-cloud";
import { ec2ErrorKind, ec2Failure } from "../../src/blueprints/ec2-host/ec2-errors";
import { asEc2Error } from "../../src/blueprints/ec2-host/ec2-sdk-cloud";
import { ec2HostBlueprint } from "../../src/blueprints/ec2-host/ec2-host-blueprint";
import type { Ec2HostConfig } from "../../src/blueprints/ec2-host/ec2-host-config";
import { consoleHostKeys, hostKeyToPin } from "../../src/blueprints/ec2-host/host-key";
import { launchRequest, launchShapes, pollDelayMs } from "../../src/blueprints/ec2-host/launch-plan";
import { ManualClock } from "../../src/domain/clock";
import { ValidationError } from "../../src/domain/errors";
import { fingerprintOf } from "../../src/interfaces/ssh-target";
import { isPlan, leaseView, resourceView } from "../support/blueprint-fixtures";

/** The pure half of `ec2-host`: its config, its predicates, EC2's error codes, the console's host keys. */
const clock = new ManualClock();
const impl = ec2HostBlueprint({
  cloud: () => {
    throw new Error("no EC2 in unit tests");
  },
  installationId: async () => "in-test",
  clock,
  random: () => 0.5,
});
const base = { region: "eu-west-1", imageId: "ami-0123456789abcdef0", instanceTypes: ["t3.micro"], sshUser: "ubuntu", privateKey: { env: "EC2_KEY" } };

function blueprint(raw: Record<string, unknown> = {}, failingTargets: BlueprintView["failingTargets"] = []): BlueprintView<Ec2HostConfig> {
  return { blueprintId: "bp_1", name: "ec2", kind: "ec2-host", resourceType: "host", config: impl.parseConfig({ ...base, ...raw }), resourceLimit: 5, enabled: true, liveResources: 0, failingTargets };
}
const lease = (attributes: Record<string, unknown> = {}) => leaseView(attributes);
const resource = resourceView;

describe("ec2-host config", () => {
  it("fills in the defaults; the resource limit is maxInstances", () => {
    const config = impl.parseConfig(base);
    expect(config).toMatchObject({ sshPort: 22, slots: 4, maxInstances: 5, bootTimeoutSeconds: 300, spot: false, spotFallbackToOnDemand: true, addressType: "private", subnetIds: [], tags: {} });
    expect(impl.defaultResourceLimit(impl.parseConfig({ ...base, maxInstances: 7 }))).toBe(7);
  });

  it.each([
    ["a key pasted in instead of a reference", { privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----" }, "config.privateKey"],
    ["an access key in the config", { accessKeyId: "AKIA0000", secretAccessKey: "x" }, "config"],
    ["credentials under another name", { credentials: { accessKeyId: "AKIA0000" } }, "config"],
    ["neither an image nor a launch template", { imageId: undefined }, "config.imageId"],
    ["no instance type and no launch template", { instanceTypes: [] }, "config.instanceTypes"],
    ["a region that is not one", { region: "Ireland" }, "config.region"],
    ["a tag in Drydock's namespace", { tags: { "drydock:resource": "x" } }, "config.tags"],
    ["a launch template with both id and name", { imageId: undefined, launchTemplate: { id: "lt-0abc", name: "builders" } }, "config.launchTemplate"],
    ["a subnet that is not a subnet id", { subnetIds: ["10.0.0.0/24"] }, "config.subnetIds.0"],
  ])("refuses %s, naming the field", (_what, raw, field) => {
    let error: unknown;
    try {
      impl.parseConfig({ ...base, ...raw });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toContain(field);
  });

  it("takes a launch template instead of an image and types", () => {
    const config = impl.parseConfig({ region: "us-east-1", launchTemplate: { name: "builders", version: "$Latest" }, sshUser: "ec2-user", privateKey: { file: "/etc/drydock/key" } });
    expect(launchShapes(config)).toEqual([{ instanceType: undefined, subnetId: undefined, spot: false }]);
  });

  it("checks at create that the key reference can be read, without reading it out", () => {
    delete process.env.EC2_KEY_UNSET_FOR_TEST;
    expect(() => impl.checkEnvironment!(impl.parseConfig({ ...base, privateKey: { env: "EC2_KEY_UNSET_FOR_TEST" } }))).toThrow(/config\.privateKey\.env: environment variable EC2_KEY_UNSET_FOR_TEST is not set/);
  });
});

describe("ec2-host planning", () => {
  it("plans an instance with the blueprint's slots and attributes", () => {
    const plan = impl.planResource(blueprint({ slots: 3, attributes: { os: "linux", labels: ["big"] } }), lease({ os: "linux" }), []);
    expect(isPlan(plan) && plan).toMatchObject({ leaseSlots: 3, attributes: { os: "linux", labels: ["big"], region: "eu-west-1" }, heldLeases: [] });
  });

  it("counts every resource not destroyed against maxInstances, booting and terminating ones included", () => {
    const existing = [resource({ status: "pending" }), resource({ status: "broken", resourceId: "rs_2" })];
    const plan = impl.planResource(blueprint({ maxInstances: 2 }), lease(), existing);
    expect(plan).toEqual({ ok: false, reason: "2 instances of at most 2 exist (booting, running or being terminated)" });
  });

  it("builds nothing while its launch settings are failing, and says EC2's error", () => {
    const failing = [{ target: "launch", code: "InvalidAMIID.NotFound", message: "RunInstances (t3.micro): InvalidAMIID.NotFound: no such image", failures: 1, since: "2026-01-01T00:00:00Z", retryAt: "2026-01-01T00:02:00Z" }];
    const plan = impl.planResource(blueprint({}, failing), lease(), []);
    expect(plan).toMatchObject({ ok: false, cause: "configuration", reason: expect.stringContaining("InvalidAMIID.NotFound: no such image") });
  });

  it("refuses a lease whose attributes the instances do not offer", () => {
    expect(impl.canEverAllocate(blueprint({ attributes: { os: "linux" } }), lease({ os: "windows" })).ok).toBe(false);
    expect(impl.canAcquire(blueprint(), resource({ liveLeases: 4 }), lease())).toEqual({ ok: false, reason: "all 4 slots in use" });
    expect(impl.canAcquire(blueprint(), resource({ liveLeases: 3 }), lease()).ok).toBe(true);
  });
});

describe("idle instances", () => {
  it("releases an instance idle for idleTerminateSeconds, counted from the log's idle time (activation or last lease end), not from a check", () => {
    const bp = blueprint({ idleTerminateSeconds: 600 });
    const since = clock.now();
    const idle = resource({ resourceId: "rs_idle", liveLeases: 0, idleSince: since.toISOString() });
    const at = (ms: number) => new Date(since.getTime() + ms);
    expect(impl.retireReason!(bp, idle, at(0))).toBeNull();
    expect(impl.retireReason!(bp, idle, at(599_000))).toBeNull();
    // The first look after a restart sees the whole idle time at once: nothing was kept in memory.
    expect(impl.retireReason!(bp, idle, at(600_000))).toBe("idle for 600 s (idleTerminateSeconds 600): its instance is terminated");
    expect(impl.retireReason!(bp, idle, at(3_600_000))).toBe("idle for 3600 s (idleTerminateSeconds 600): its instance is terminated");
    // Leased, or not known to be idle: never.
    expect(impl.retireReason!(bp, { ...idle, liveLeases: 1, idleSince: null }, at(3_600_000))).toBeNull();
    expect(impl.retireReason!(bp, { ...idle, idleSince: null }, at(3_600_000))).toBeNull();
    // A warm pool keeps its instances while there are no more than it asks for.
    const warm = (minReady: number, liveResources: number) => ({ ...bp, liveResources, pool: { minReady, maxLeasesPerResource: null, maxAgeSeconds: null, idleDestroySeconds: null } });
    expect(impl.retireReason!(warm(2, 2), idle, at(3_600_000))).toBeNull();
    expect(impl.retireReason!(warm(2, 3), idle, at(3_600_000))).toContain("idleTerminateSeconds 600");
  });
});

describe("EC2 error codes", () => {
  it.each([
    ["InsufficientInstanceCapacity", 500, "capacity"],
    ["InstanceLimitExceeded", 400, "capacity"],
    ["RequestLimitExceeded", 503, "throttled"],
    ["Unavailable", 503, "throttled"],
    ["InternalError", 500, "throttled"],
    ["RequestLost", null, "throttled"],
    ["SomethingNew", 502, "throttled"],
    ["InvalidAMIID.NotFound", 400, "configuration"],
    ["InvalidAMIID.Malformed", 400, "configuration"],
    ["UnauthorizedOperation", 403, "configuration"],
    ["InvalidParameterValue", 400, "configuration"],
    ["InvalidSubnetID.NotFound", 400, "configuration"],
    ["InvalidGroup.NotFound", 400, "configuration"],
    ["SomethingNew", 400, "unknown"],
    ["NoCredentials", null, "configuration"],
  ] as const)("%s (HTTP %s) is %s", (code, status, kind) => {
    expect(ec2ErrorKind({ code, httpStatus: status })).toBe(kind);
  });

  it("reads the SDK's errors as EC2's code, a dropped connection as RequestLost, no credentials as NoCredentials", () => {
    const service = Object.assign(new Error("The image id '[ami-1]' does not exist"), { name: "InvalidAMIID.NotFound", $metadata: { httpStatusCode: 400 } });
    expect(asEc2Error(service)).toMatchObject({ code: "InvalidAMIID.NotFound", message: "The image id '[ami-1]' does not exist", httpStatus: 400 });
    const dropped = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    expect(asEc2Error(dropped)).toMatchObject({ code: "RequestLost", message: "no answer from EC2 (ECONNRESET: socket hang up)", httpStatus: null });
    const noCredentials = Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" });
    expect(asEc2Error(noCredentials)).toMatchObject({ code: "NoCredentials" });
    expect(ec2ErrorKind(asEc2Error(noCredentials))).toBe("configuration");
  });

  it("turns them into failures that keep EC2's code and message", () => {
    const permanent = ec2Failure(new Ec2ApiError("UnauthorizedOperation", "You are not authorized to perform this operation.", 403), "RunInstances (t3.micro)");
    expect(permanent).toBeInstanceOf(PermanentFailure);
    expect(permanent).toMatchObject({ code: "UnauthorizedOperation", message: "RunInstances (t3.micro): UnauthorizedOperation: You are not authorized to perform this operation.", scope: { target: "launch", configuration: true } });
    const temporary = ec2Failure(new Ec2ApiError("RequestLimitExceeded", "Request limit exceeded.", 503), "DescribeInstances");
    expect(temporary).toBeInstanceOf(TemporaryFailure);
    expect((temporary as TemporaryFailure).retryAfterMs).toBeGreaterThan(0);
  });
});

describe("launch plan", () => {
  it("tries every type in every subnet, spot first then on-demand", () => {
    const config = impl.parseConfig({ ...base, instanceTypes: ["c5.large", "m5.large"], subnetIds: ["subnet-a1", "subnet-b2"], spot: true });
    expect(launchShapes(config).map((s) => `${s.spot ? "spot" : "od"}:${s.instanceType}:${s.subnetId}`)).toEqual([
      "spot:c5.large:subnet-a1",
      "spot:c5.large:subnet-b2",
      "spot:m5.large:subnet-a1",
      "spot:m5.large:subnet-b2",
      "od:c5.large:subnet-a1",
      "od:c5.large:subnet-b2",
      "od:m5.large:subnet-a1",
      "od:m5.large:subnet-b2",
    ]);
    expect(launchShapes(impl.parseConfig({ ...base, spot: true, spotFallbackToOnDemand: false })).every((s) => s.spot)).toBe(true);
  });

  it("launches with the resource id as ClientToken whatever the shape, and Drydock's tags over the config's", () => {
    const config = impl.parseConfig({ ...base, tags: { team: "ci" } });
    const [a, b] = [launchRequest(config, { instanceType: "t3.micro", spot: false }, ids), launchRequest(config, { instanceType: "m5.large", spot: true }, ids)];
    expect(a.clientToken).toBe("rs_9");
    expect(b.clientToken).toBe("rs_9");
    expect(a.tags).toEqual({ Name: "drydock-rs_9", team: "ci", "drydock:resource": "rs_9", "drydock:blueprint": "bp_9", "drydock:installation": "in-9" });
  });

  it("polls with bounded, jittered waits", () => {
    expect(pollDelayMs(0, 0)).toBe(125);
    expect(pollDelayMs(0, 0.999)).toBeLessThanOrEqual(250);
    expect(pollDelayMs(3, 0.5)).toBe(1500);
    expect(pollDelayMs(50, 0.999)).toBeLessThanOrEqual(5000);
    expect(pollDelayMs(50, 0)).toBe(2500);
  });
});
const ids = { resourceId: "rs_9", blueprintId: "bp_9", installationId: "in-9" };

describe("host keys on the console", () => {
  const ed25519 = sshBlob("ssh-ed25519");
  const other = sshBlob("ssh-ed25519");
  const consoleText = [
    "[   12.3] cloud-init[812]: Cloud-init v. 24.1 running 'modules:config'",
    "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----",
    "ec2: 256 SHA256:abc root@ip-10-0-0-1 (ED25519)",
    "ec2: -----END SSH HOST KEY FINGERPRINTS-----",
    "-----BEGIN SSH HOST KEY KEYS-----",
    `ecdsa-sha2-nistp256 ${fakeEcdsaBlob()} root@ip-10-0-0-1`,
    `ssh-ed25519 ${ed25519.toString("base64")} root@ip-10-0-0-1`,
    // A line whose type and blob disagree is not a key.
    `ssh-rsa ${other.toString("base64")} root@ip-10-0-0-1`,
    "-----END SSH HOST KEY KEYS-----",
    "",
  ].join("\r\n");

  it("reads the keys between cloud-init's markers and pins ed25519 by its SHA256 fingerprint", () => {
    const keys = consoleHostKeys(consoleText);
    expect(keys.map((k) => k.type)).toEqual(["ecdsa-sha2-nistp256", "ssh-ed25519"]);
    expect(hostKeyToPin(keys)).toEqual({ type: "ssh-ed25519", fingerprint: fingerprintOf(ed25519) });
  });

  it("finds none on a console without the block (not booted yet, or no cloud-init)", () => {
    expect(consoleHostKeys("[    0.0] Linux version 6.8\r\nubuntu login:")).toEqual([]);
    expect(hostKeyToPin([])).toBeNull();
    // Keys outside the block (a user's authorized_keys echoed at boot) are not the host's.
    expect(consoleHostKeys(`ssh-ed25519 ${ed25519.toString("base64")} someone@laptop`)).toEqual([]);
  });
});

function sshString(value: Buffer | string): Buffer {
  const bytes = Buffer.from(value);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** An OpenSSH public key blob for a fresh ed25519 key. */
function sshBlob(type: "ssh-ed25519"): Buffer {
  const { publicKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
  return Buffer.concat([sshString(type), sshString(raw)]);
}

function fakeEcdsaBlob(): string {
  return Buffer.concat([sshString("ecdsa-sha2-nistp256"), sshString("nistp256"), sshString(Buffer.alloc(65, 4))]).toString("base64");
}
