import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBlueprint } from "../../src/commands/blueprint-commands";
import { requestLease } from "../../src/commands/lease-commands";
import { ec2HostBlueprint } from "../../src/blueprints/ec2-host/ec2-host-blueprint";
import type { Ec2Cloud } from "../../src/blueprints/ec2-host/ec2-cloud";
import { sdkEc2Clouds } from "../../src/blueprints/ec2-host/ec2-sdk-cloud";
import { systemClock } from "../../src/domain/clock";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { startEc2Emulator, type Ec2Emulator } from "../support/ec2-emulator/emulator";
import { sshdAvailable, sshdMissingMessage } from "../support/sshd";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";

/**
 * A worker dies between RunInstances succeeding and any event recording it: another worker takes
 * the resource over (its claim times out) and adopts the instance the dead one launched. One
 * instance for the resource, never two.
 */
if (!sshdAvailable) console.warn(`skipping the ec2-host crash test: ${sshdMissingMessage}`);
const describeSsh = sshdAvailable ? describe : describe.skip;

const KEY_ENV = `DRYDOCK_TEST_EC2_CRASH_KEY_${randomBytes(4).toString("hex").toUpperCase()}`;
let emulator: Ec2Emulator;
let database: TestDatabase;
/** The instance's root: its "disk" is this machine's, so this file's own directory, removed at its end. */
let remoteRoot: string;
const drydocks: Drydock[] = [];
const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

beforeAll(async () => {
  if (!sshdAvailable) return;
  remoteRoot = await mkdtemp(path.join(tmpdir(), "drydock-ec2-crash-"));
  emulator = await startEc2Emulator();
  database = await createTestDatabase();
  process.env[KEY_ENV] = emulator.keyPair.privateKey;
  process.env.AWS_ACCESS_KEY_ID = "AKIDCRASHTEST";
  process.env.AWS_SECRET_ACCESS_KEY = "crash-test-secret";
});

afterAll(async () => {
  for (const d of drydocks) await d.close();
  await database?.close();
  await emulator?.close();
  if (remoteRoot) await rm(remoteRoot, { recursive: true, force: true });
  delete process.env[KEY_ENV];
  for (const [name, value] of [["AWS_ACCESS_KEY_ID", saved.id], ["AWS_SECRET_ACCESS_KEY", saved.secret]] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describeSsh("ec2-host across a worker's death", () => {
  it("a worker killed right after RunInstances: the next worker adopts its instance instead of launching another", async () => {
    // The doomed worker's EC2: RunInstances goes through, then its process is gone (nothing after it returns).
    const clouds = sdkEc2Clouds({ maxAttempts: 1 });
    let launchedBeforeDeath: (instanceId: string) => void = () => {};
    const death = new Promise<string>((resolve) => (launchedBeforeDeath = resolve));
    let bury: (error: Error) => void = () => {};
    const grave = new Promise<never>((_, reject) => (bury = reject));
    grave.catch(() => {});
    const doomedCloud = (location: Parameters<typeof clouds.cloud>[0]): Ec2Cloud => {
      const real = clouds.cloud(location);
      return {
        ...real,
        describeInstances: (q) => real.describeInstances(q),
        consoleOutput: (id) => real.consoleOutput(id),
        terminateInstances: (ids) => real.terminateInstances(ids),
        async runInstance(request) {
          const launched = await real.runInstance(request);
          launchedBeforeDeath(launched.instanceId);
          return grave;
        },
      };
    };
    const doomed = await createDrydock({
      database,
      localHost: false,
      ec2Reaper: false,
      blueprints: [ec2HostBlueprint({ cloud: doomedCloud, installationId: async () => "in-crashtest", clock: systemClock, random: Math.random })],
      workerOptions: { claimTimeoutMs: 1_500 },
      onWorkerError: () => {},
    });
    drydocks.push(doomed);

    const blueprintId = await createBlueprint(
      doomed.commands,
      {
        name: "ec2-crash",
        kind: "ec2-host",
        config: { region: emulator.region, endpoint: emulator.endpoint, imageId: "ami-0123456789abcdef0", instanceTypes: ["t3.micro"], sshUser: emulator.sshUser, sshPort: emulator.sshPort, privateKey: { env: KEY_ENV }, root: remoteRoot, bootTimeoutSeconds: 30, connectTimeoutSeconds: 3 },
      },
      { actor: "crash-test" },
    );
    const leaseId = await requestLease(doomed.commands, { resourceType: "host", attributes: {}, blueprintIds: [blueprintId] }, "crash-test", { actor: "crash-test" });
    const launched = await death;
    // The worker dies: it claims nothing more; its step never returns.
    const stopped = doomed.worker.stop();

    const successor = await createDrydock({ database, localHost: false, ec2Reaper: false, ec2: { maxAttempts: 1 }, workerOptions: { claimTimeoutMs: 1_500 }, onWorkerError: () => {} });
    drydocks.push(successor);
    const lease = await waitForLeaseStatus(successor, leaseId, ["active"], 30_000);
    const resource = await successor.database.db.selectFrom("resources").select(["resource_id", "attributes"]).where("resource_id", "=", lease.resourceId!).executeTakeFirstOrThrow();
    expect((resource.attributes as { instanceId: string }).instanceId).toBe(launched);
    expect(emulator.calls("RunInstances")).toBe(1);
    expect(emulator.launchedCount).toBe(1);

    // The dead worker's step ends at last (its process is gone): it changes nothing.
    bury(new Error("the worker's process died"));
    await stopped;
    const after = await successor.database.db.selectFrom("resources").select("status").where("resource_id", "=", lease.resourceId!).executeTakeFirstOrThrow();
    expect(after.status).toBe("active");
    expect((await successor.database.db.selectFrom("leases").select("status").where("lease_id", "=", leaseId).executeTakeFirstOrThrow()).status).toBe("active");
    expect(emulator.launchedCount).toBe(1);
    clouds.close();
  });
});
