/**
 * Getting one resource's instance up: find the instance launched for it (after a crash or a lost
 * answer) or launch one, falling back across shapes on capacity errors; then wait, with bounded
 * jittered polls, until it runs and its console shows its host key.
 *
 * Invariants:
 * - At most one instance per resource: every launch carries ClientToken = resource id, and an
 *   instance tagged with the resource id is adopted before anything is launched.
 * - One call polls for at most a slice (under the worker's claim timeout) and then yields
 *   (TemporaryFailure `instance_booting`); the boot deadline is counted from EC2's own launch
 *   time, so it holds across slices, retries and workers.
 */
import { CapacityShortage, PermanentFailure, TemporaryFailure } from "../failures";
import { Ec2ApiError, type Ec2Cloud, type InstanceInfo } from "./ec2-cloud";
import { CAPACITY_RETRY_MS, ec2ErrorKind, ec2Failure, LAUNCH_TARGET } from "./ec2-errors";
import type { Ec2HostConfig } from "./ec2-host-config";
import { consoleHostKeys, hostKeyToPin, type ConsoleHostKey } from "./host-key";
import { bootDeadline, describeShape, launchRequest, launchShapes, pollDelayMs, TAGS, type LaunchIdentity } from "./launch-plan";

export interface BootTiming {
  now(): Date;
  sleep(ms: number): Promise<void>;
  random(): number;
  /** When this call stops polling and yields. */
  sliceEnd: Date;
}

/** The instance launched for the resource, adopted or new. */
export async function findOrLaunch(cloud: Ec2Cloud, config: Ec2HostConfig, id: LaunchIdentity): Promise<InstanceInfo> {
  const mine = await ec2(() => cloud.describeInstances({ tags: { [TAGS.resource]: id.resourceId } }), "looking for the resource's instance");
  const alive = mine.find((i) => i.state === "pending" || i.state === "running");
  if (alive) return alive;
  const ended = mine.find((i) => i.state !== "pending" && i.state !== "running");
  if (ended) {
    // Its one instance (ClientToken) is gone: this resource cannot get another; a new one will.
    throw new PermanentFailure(`instance ${ended.instanceId} of this resource is ${ended.state}${ended.stateReason ? ` (${ended.stateReason})` : ""}`, "instance_ended");
  }
  const noCapacity: string[] = [];
  let lastCapacity: Ec2ApiError | null = null;
  for (const shape of launchShapes(config)) {
    try {
      return await cloud.runInstance(launchRequest(config, shape, id));
    } catch (error) {
      if (!(error instanceof Ec2ApiError)) throw error;
      if (ec2ErrorKind(error) !== "capacity") throw ec2Failure(error, `RunInstances (${describeShape(shape)})`);
      noCapacity.push(`${describeShape(shape)}: ${error.code}`);
      lastCapacity = error;
    }
  }
  // Nothing was launched (every RunInstances failed), so the resource can give up its build at
  // once and its lease can land on another blueprint (CapacityShortage).
  throw new CapacityShortage(
    `no capacity for any instance type or subnet: ${noCapacity.join("; ")}${lastCapacity ? ` (${lastCapacity.message})` : ""}`,
    lastCapacity?.code ?? "InsufficientInstanceCapacity",
    CAPACITY_RETRY_MS,
    { target: LAUNCH_TARGET, configuration: false },
  );
}

export type BootOutcome<T> = { ok: true; value: T } | { ok: false; why: "slice" | "deadline" };

/**
 * Polls `check` until it returns a value, the boot deadline passes, or the slice ends. A poll
 * that EC2 throttles (a temporary failure) is just a poll that saw nothing: the wait goes on,
 * bounded as before, instead of starting the activation over.
 */
async function pollUntil<T>(timing: BootTiming, deadline: Date, check: () => Promise<T | null>): Promise<BootOutcome<T>> {
  for (let attempt = 0; ; attempt++) {
    let value: T | null;
    try {
      value = await check();
    } catch (error) {
      if (!(error instanceof TemporaryFailure)) throw error;
      value = null;
    }
    if (value !== null) return { ok: true, value };
    const now = timing.now().getTime();
    if (now >= deadline.getTime()) return { ok: false, why: "deadline" };
    if (now >= timing.sliceEnd.getTime()) return { ok: false, why: "slice" };
    await timing.sleep(Math.min(pollDelayMs(attempt, timing.random()), Math.max(1, deadline.getTime() - now)));
  }
}

export interface RunningInstance {
  instance: InstanceInfo;
  address: string;
}

/** Waits until the instance runs and has the address Drydock connects to. */
export async function waitForRunning(cloud: Ec2Cloud, config: Ec2HostConfig, launched: InstanceInfo, timing: BootTiming): Promise<RunningInstance> {
  const deadline = bootDeadline(launched.launchTime ?? timing.now(), config);
  let last = launched;
  const outcome = await pollUntil(timing, deadline, async () => {
    const [now] = await ec2(() => cloud.describeInstances({ instanceIds: [launched.instanceId] }), `describing ${launched.instanceId}`);
    if (!now) return null; // not visible yet (EC2's reads are eventually consistent)
    last = now;
    if (now.state === "shutting-down" || now.state === "terminated" || now.state === "stopping" || now.state === "stopped") {
      throw new PermanentFailure(`instance ${now.instanceId} went ${now.state} while booting${now.stateReason ? ` (${now.stateReason})` : ""}`, "instance_ended");
    }
    const address = config.addressType === "public" ? now.publicIpAddress : now.privateIpAddress;
    return now.state === "running" && address ? { instance: now, address } : null;
  });
  if (outcome.ok) return outcome.value;
  if (outcome.why === "slice") throw new TemporaryFailure(`instance ${launched.instanceId} is still ${last.state}; looking again`, "instance_booting", 1_000);
  throw new PermanentFailure(`instance ${launched.instanceId} was not running with a${config.addressType === "public" ? " public" : " private"} address within bootTimeoutSeconds (${config.bootTimeoutSeconds} s); it is ${last.state}`, "boot_timeout");
}

/**
 * Waits until the console shows the instance's host key. An instance that never shows one is
 * refused: its key would have to be trusted on first sight, which Drydock never does.
 */
export async function waitForHostKey(cloud: Ec2Cloud, config: Ec2HostConfig, instance: InstanceInfo, timing: BootTiming): Promise<ConsoleHostKey> {
  const deadline = bootDeadline(instance.launchTime ?? timing.now(), config);
  const outcome = await pollUntil(timing, deadline, async () => {
    const text = await ec2(() => cloud.consoleOutput(instance.instanceId), `reading the console of ${instance.instanceId}`);
    return text === null ? null : hostKeyToPin(consoleHostKeys(text));
  });
  if (outcome.ok) return outcome.value;
  if (outcome.why === "slice") throw new TemporaryFailure(`instance ${instance.instanceId} has not printed its SSH host key yet; looking again`, "instance_booting", 1_000);
  throw new PermanentFailure(
    `instance ${instance.instanceId} printed no SSH host key on its console (cloud-init's -----BEGIN SSH HOST KEY KEYS----- block) within bootTimeoutSeconds (${config.bootTimeoutSeconds} s): its key cannot be pinned, so it is not used`,
    "host_key_missing",
  );
}

/** Runs one EC2 call; its error becomes the provider failure for its code. */
export async function ec2<T>(fn: () => Promise<T>, doing: string): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw error instanceof Ec2ApiError ? ec2Failure(error, doing) : error;
  }
}
