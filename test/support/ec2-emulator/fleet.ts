import { randomBytes } from "node:crypto";
import path from "node:path";
import { consoleText } from "./console-output";
import type { FaultPlan } from "./faults";
import { startInstanceHost, type InstanceHost } from "./instance-host";

/**
 * The emulated instances and their lifecycle: pending → running → shutting-down → terminated,
 * with the emulator's delays. An instance is running once its sshd accepts connections; its
 * console shows the host key from then on. Terminated instances stay visible, as in EC2 (there
 * for about an hour; here until the emulator closes).
 */
export type InstanceStateName = "pending" | "running" | "shutting-down" | "terminated";
export const STATE_CODES: Readonly<Record<InstanceStateName, number>> = { pending: 0, running: 16, "shutting-down": 32, terminated: 48 };

export interface LaunchSpec {
  imageId: string;
  instanceType: string;
  subnetId?: string;
  securityGroupIds: string[];
  keyName?: string;
  userData?: string;
  clientToken?: string;
  launchTemplate?: { id?: string; name?: string; version?: string };
  iamInstanceProfile?: string;
  spot: boolean;
  tags: ReadonlyMap<string, string>;
}

export interface EmulatedInstance {
  instanceId: string;
  reservationId: string;
  launchIndex: number;
  spec: LaunchSpec;
  /** Its loopback address: both its private and its public IP. */
  address: string;
  hostname: string;
  launchTime: Date;
  state: InstanceStateName;
  stateReason?: { code: string; message: string };
  tags: Map<string, string>;
  /** Null until it is running (and for ever under the hidden-host-key fault). */
  hostKey: { line: string; fingerprint: string } | null;
  bootedAt: Date | null;
}

export interface Reservation {
  reservationId: string;
  ownerId: string;
  instances: EmulatedInstance[];
  clientToken?: string;
  /** The request's parameters without ClientToken: a retry must send the same (IdempotentParameterMismatch). */
  digest: string;
}

export interface FleetOptions {
  dir: string;
  sshPort: number;
  authorizedKeysPath: string;
  bootDelayMs: number;
  terminateDelayMs: number;
  /** `127.<n>`: the first two octets of the instances' addresses. */
  addressPrefix: string;
  ownerId: string;
  faults: FaultPlan;
  /** sshd would not start: the instance is terminated with Server.InternalError and this is told. */
  onHostError(instanceId: string, error: unknown): void;
}

export class Fleet {
  private readonly reservationList: Reservation[] = [];
  private readonly byId = new Map<string, EmulatedInstance>();
  private readonly hosts = new Map<string, InstanceHost>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pendingWork = new Set<Promise<unknown>>();
  private launched = 0;
  private closed = false;

  constructor(private readonly options: FleetOptions) {}

  /** Instances ever launched (terminated ones included). */
  get launchedCount(): number {
    return this.launched;
  }

  reservations(): readonly Reservation[] {
    return this.reservationList;
  }

  instances(): EmulatedInstance[] {
    return [...this.byId.values()];
  }

  get(instanceId: string): EmulatedInstance | undefined {
    return this.byId.get(instanceId);
  }

  byClientToken(token: string): Reservation | undefined {
    return this.reservationList.find((r) => r.clientToken === token);
  }

  launch(spec: LaunchSpec, count: number, digest: string): Reservation {
    const reservation: Reservation = { reservationId: awsId("r"), ownerId: this.options.ownerId, instances: [], clientToken: spec.clientToken, digest };
    for (let i = 0; i < count; i++) {
      const n = ++this.launched;
      const address = `${this.options.addressPrefix}.${Math.floor(n / 254)}.${(n % 254) + 1}`;
      const instance: EmulatedInstance = {
        instanceId: awsId("i"),
        reservationId: reservation.reservationId,
        launchIndex: i,
        spec,
        address,
        hostname: `ip-${address.replaceAll(".", "-")}`,
        launchTime: new Date(),
        state: "pending",
        tags: new Map(spec.tags),
        hostKey: null,
        bootedAt: null,
      };
      reservation.instances.push(instance);
      this.byId.set(instance.instanceId, instance);
      const faults = this.options.faults.takeLaunchFaults();
      this.later(faults.bootDelayMs ?? this.options.bootDelayMs, () => this.track(this.boot(instance, faults.hideHostKey, faults.dieAfterMs)));
    }
    this.reservationList.push(reservation);
    return reservation;
  }

  /** Starts shutting the instance down; returns its state before. A terminated instance stays so. */
  terminate(instance: EmulatedInstance, reason?: { code: string; message: string }): InstanceStateName {
    const previous = instance.state;
    if (previous === "shutting-down" || previous === "terminated") return previous;
    instance.state = "shutting-down";
    instance.stateReason = reason ?? { code: "Client.UserInitiatedShutdown", message: "Client.UserInitiatedShutdown: User initiated shutdown" };
    // The machine goes away at once: its sshd and every session it started.
    this.track(
      this.stopHost(instance).then(() => {
        this.later(this.options.terminateDelayMs, () => {
          instance.state = "terminated";
        });
      }),
    );
    return previous;
  }

  /** The instance dies under its user (a host failure): terminated, its sshd gone. */
  kill(instance: EmulatedInstance): void {
    this.terminate(instance, { code: "Server.InternalError", message: "Server.InternalError: Internal error on launch" });
  }

  consoleOutput(instance: EmulatedInstance): string | null {
    if (instance.bootedAt === null) return null;
    return consoleText({ hostname: instance.hostname, bootedAt: instance.bootedAt, hostKey: instance.hostKey });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.pendingWork]);
    await Promise.allSettled([...this.byId.values()].map((i) => this.stopHost(i)));
  }

  private async boot(instance: EmulatedInstance, hideHostKey: boolean, dieAfterMs: number | undefined): Promise<void> {
    if (instance.state !== "pending" || this.closed) return;
    let host: InstanceHost;
    try {
      host = await startInstanceHost({
        dir: path.join(this.options.dir, instance.instanceId),
        instanceId: instance.instanceId,
        address: instance.address,
        port: this.options.sshPort,
        authorizedKeysPath: this.options.authorizedKeysPath,
        hostname: instance.hostname,
      });
    } catch (error) {
      this.options.onHostError(instance.instanceId, error);
      this.terminate(instance, { code: "Server.InternalError", message: "Server.InternalError: Internal error on launch" });
      return;
    }
    // Terminated (or the emulator closed) while sshd was starting: it must not outlive it.
    if (instance.state !== "pending" || this.closed) {
      await host.stop();
      return;
    }
    this.hosts.set(instance.instanceId, host);
    instance.bootedAt = new Date();
    instance.hostKey = hideHostKey ? null : { line: host.hostKeyLine, fingerprint: host.fingerprint };
    instance.state = "running";
    if (dieAfterMs !== undefined) this.later(dieAfterMs, () => this.kill(instance));
  }

  private async stopHost(instance: EmulatedInstance): Promise<void> {
    const host = this.hosts.get(instance.instanceId);
    if (!host) return;
    this.hosts.delete(instance.instanceId);
    await host.stop();
  }

  private later(ms: number, fn: () => void): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((error) => this.options.onHostError("?", error)).finally(() => this.pendingWork.delete(tracked));
    this.pendingWork.add(tracked);
  }
}

/** `i-0123456789abcdef0`: a prefix and 17 hex digits, as EC2's ids. */
export function awsId(prefix: string): string {
  return `${prefix}-${randomBytes(9).toString("hex").slice(0, 17)}`;
}
