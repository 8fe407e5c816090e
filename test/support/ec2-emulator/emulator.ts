import { randomInt } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { freePort } from "../free-port";
import { keygen } from "../sshd";
import type { EmulatedLaunchTemplate } from "./action-context";
import { controlHandler } from "./control";
import { FaultPlan, type Ec2Action } from "./faults";
import { Fleet, type EmulatedInstance } from "./fleet";
import { createEc2Server, type CallRecord } from "./server";

/**
 * A wire-level EC2 emulator: the real `EC2Client`, pointed at `endpoint`, talks to it as it
 * would to EC2. Its instances are real sshd processes on their own loopback addresses, reached
 * with the emulator's key pair as the current user.
 */
export interface Ec2EmulatorOptions {
  /** HTTP port (default: a free one). */
  port?: number;
  /** Milliseconds from launch to running (default 0; sshd's start-up comes on top). */
  bootDelayMs?: number;
  /** Milliseconds from shutting-down to terminated (default 0). */
  terminateDelayMs?: number;
  /** The port every instance's sshd listens on, on its own address (default: a free one). */
  sshPort?: number;
  region?: string;
  /** The name of the emulator's one key pair (default `drydock-emulator`). */
  keyName?: string;
  /** Known launch templates; absent: any template id or name is accepted. */
  launchTemplates?: EmulatedLaunchTemplate[];
  /**
   * Where its key pair and its instances' sshd files go, made if missing and removed by close
   * (default: a directory of its own under the system's temporary one).
   */
  dir?: string;
}

export interface Ec2Emulator {
  /** `http://127.0.0.1:<port>`: the EC2Client's `endpoint`. */
  readonly endpoint: string;
  readonly region: string;
  readonly sshPort: number;
  /** Instances accept this user (the one the emulator runs as) with the key pair. */
  readonly sshUser: string;
  readonly keyPair: { name: string; privateKey: string; privateKeyPath: string; publicKey: string };
  readonly faults: FaultPlan;
  /** Calls of one action (or of all) answered, failed or lost so far. */
  calls(action?: Ec2Action): number;
  /** Every call in order, with its outcome. */
  readonly callLog: readonly CallRecord[];
  /** Instances ever launched, terminated ones included. */
  readonly launchedCount: number;
  instances(): EmulatedInstance[];
  /** Instances not (yet) shutting down or terminated. */
  liveInstances(): EmulatedInstance[];
  instance(instanceId: string): EmulatedInstance | undefined;
  /** The instance dies now: terminated (Server.InternalError), its sshd and sessions killed. */
  killInstance(instanceId: string): void;
  /** The access key ids of the signatures seen (never secrets: the id is not one). */
  accessKeyIds(): string[];
  close(): Promise<void>;
}

export async function startEc2Emulator(options: Ec2EmulatorOptions = {}): Promise<Ec2Emulator> {
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), "drydock-ec2-")));
  if (options.dir) await mkdir(dir, { recursive: true, mode: 0o700 });
  const privateKeyPath = path.join(dir, "key_pair");
  await keygen(privateKeyPath);
  const publicKey = await readFile(`${privateKeyPath}.pub`, "utf8");
  const authorizedKeysPath = path.join(dir, "authorized_keys");
  await writeFile(authorizedKeysPath, publicKey);

  const region = options.region ?? "us-east-1";
  const keyName = options.keyName ?? "drydock-emulator";
  const sshPort = options.sshPort ?? (await freePort());
  const faults = new FaultPlan();
  const calls: CallRecord[] = [];
  const accessKeyIds = new Set<string>();
  const fleet = new Fleet({
    dir,
    sshPort,
    authorizedKeysPath,
    bootDelayMs: options.bootDelayMs ?? 0,
    terminateDelayMs: options.terminateDelayMs ?? 0,
    // A second octet of its own, so that emulators in parallel test files do not share addresses.
    addressPrefix: `127.${randomInt(16, 240)}`,
    ownerId: "123456789012",
    faults,
    onHostError: (instanceId, error) => console.error(`[ec2-emulator] instance ${instanceId}: ${error instanceof Error ? error.message : String(error)}`),
  });

  let emulator: Ec2Emulator;
  const server = createEc2Server({
    context: { fleet, availabilityZone: `${region}a`, keyName, launchTemplates: options.launchTemplates ?? null },
    faults,
    calls,
    accessKeyIds,
    control: (req, res, body) => controlHandler(emulator, req, res, body),
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;

  emulator = {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    sshPort,
    sshUser: userInfo().username,
    keyPair: { name: keyName, privateKey: await readFile(privateKeyPath, "utf8"), privateKeyPath, publicKey },
    faults,
    calls: (action) => (action === undefined ? calls.length : calls.filter((c) => c.action === action).length),
    callLog: calls,
    get launchedCount() {
      return fleet.launchedCount;
    },
    instances: () => fleet.instances(),
    liveInstances: () => fleet.instances().filter((i) => i.state === "pending" || i.state === "running"),
    instance: (id) => fleet.get(id),
    killInstance(id) {
      const instance = fleet.get(id);
      if (!instance) throw new Error(`no instance ${id}`);
      fleet.kill(instance);
    },
    accessKeyIds: () => [...accessKeyIds],
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fleet.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return emulator;
}
