/**
 * `ec2-host`: hosts Drydock launches in EC2 and terminates when done (Phabricator's Drydock's
 * first blueprint). A resource of type `host` is one instance; its leases use it exactly as a
 * `static-hosts` host: a directory each, commands over SSH, files over SFTP (ssh-lease-effects.ts).
 *
 * Invariants:
 * - At most one instance per resource (instance-boot.ts: ClientToken = resource id, adoption by tag).
 * - At most `maxInstances` instances: it is the blueprint's resource limit (guarded by the
 *   database), and planResource counts every resource not yet destroyed, booting ones and ones
 *   whose instance is still being terminated included.
 * - Host keys are pinned from the console (host-key.ts), never trusted on first sight.
 * - Destroying a resource terminates every instance tagged with it (its own, and one launched by
 *   an attempt whose answer was lost) and confirms each is shutting-down or terminated first.
 * - AWS credentials come from the SDK's chain (ec2-sdk-cloud.ts); the config holds none.
 */
import { accessSync, constants } from "node:fs";
import { ValidationError } from "../../domain/errors";
import type { Clock } from "../../domain/clock";
import { makeDirectoryCommandLine } from "../../interfaces/remote-shell";
import { SshConnectionPool, type SshPoolOptions } from "../../interfaces/ssh-connections";
import { SshConnectionError, type SshTarget } from "../../interfaces/ssh-target";
import { matchAttributes } from "../attribute-match";
import { misconfigured, no, yes, type BlueprintImplementation, type BlueprintView, type ResourceView, type Verdict } from "../blueprint";
import { PermanentFailure, TemporaryFailure } from "../failures";
import { activateSshLease, destroySshLease, HOUSEKEEPING_TIMEOUT_MS, sshLeaseInterfaces, type SshLeaseHost } from "../ssh-lease-effects";
import { hostFailureScope, loadPrivateKey, readyVerdict, runRaw, withConnection } from "../static-hosts-remote";
import type { Ec2Cloud, Ec2Location, InstanceInfo } from "./ec2-cloud";
import { LAUNCH_TARGET } from "./ec2-errors";
import { offeredAttributes, parseEc2HostConfig, type Ec2HostConfig } from "./ec2-host-config";
import { ec2, findOrLaunch, waitForHostKey, waitForRunning, type BootTiming } from "./instance-boot";
import { bootDeadline, pollDelayMs, TAGS } from "./launch-plan";

type View = BlueprintView<Ec2HostConfig>;

export interface Ec2HostOptions {
  /** The EC2 client for a location (region, endpoint, profile); ec2-sdk-cloud.ts in the service. */
  cloud: (location: Ec2Location) => Ec2Cloud;
  /** This installation's id, tagged on every instance (so a reaper tells its own from others'). */
  installationId: () => Promise<string>;
  clock: Clock;
  random: () => number;
  sleep?: (ms: number) => Promise<void>;
  pool?: SshPoolOptions;
  /** The longest one activation step polls before it yields: under the worker's claim timeout (60 s). */
  activationSliceMs?: number;
}

export function ec2HostBlueprint(options: Ec2HostOptions): BlueprintImplementation<Ec2HostConfig> {
  const pool = new SshConnectionPool(options.pool);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const sliceMs = options.activationSliceMs ?? 40_000;
  let installation: Promise<string> | undefined;
  const installationId = () => (installation ??= options.installationId());
  const cloudOf = (config: Ec2HostConfig) => options.cloud({ region: config.region, endpoint: config.endpoint, profile: config.profile });

  const rootOf = (blueprint: View, resource: ResourceView): string =>
    typeof resource.attributes.root === "string" ? resource.attributes.root : `${blueprint.config.root}/${resource.resourceId}`;
  const leaseDirOf = (blueprint: View, resource: ResourceView, leaseId: string) => `${rootOf(blueprint, resource)}/leases/${leaseId}`;
  const nameOf = (resource: ResourceView) => (typeof resource.attributes.instanceId === "string" ? resource.attributes.instanceId : resource.resourceId);

  /** The SSH target of an activated resource: its address and pinned key are in its attributes. */
  const targetOf = async (config: Ec2HostConfig, resource: ResourceView): Promise<SshTarget> => {
    const { address, hostKeyFingerprint } = resource.attributes;
    if (typeof address !== "string" || typeof hostKeyFingerprint !== "string") throw new SshConnectionError("unreachable", `resource ${resource.resourceId} has no instance address yet`, nameOf(resource));
    return sshTarget(config, nameOf(resource), address, hostKeyFingerprint);
  };
  const sshTarget = async (config: Ec2HostConfig, name: string, address: string, fingerprint: string): Promise<SshTarget> => ({
    name,
    address,
    port: config.sshPort,
    user: config.sshUser,
    privateKey: await loadPrivateKey({ name, privateKey: config.privateKey }),
    hostKeyFingerprint: fingerprint,
    connectTimeoutMs: Math.round(config.connectTimeoutSeconds * 1000),
  });
  const leaseHost = (config: Ec2HostConfig, resource: ResourceView): SshLeaseHost => ({
    name: nameOf(resource),
    target: () => targetOf(config, resource),
    allowShell: config.allowShell,
    maxProcesses: config.maxProcesses,
  });

  /** SSH answers with the pinned key, the resource's directory exists, and the ready command passes. */
  async function sshReady(config: Ec2HostConfig, target: SshTarget, dir: string, deadline: Date, timing: BootTiming): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let verdict: Verdict;
      try {
        verdict = await withConnection(target, async (session) => {
          const made = await runRaw(session, makeDirectoryCommandLine(`${dir}/leases`), HOUSEKEEPING_TIMEOUT_MS);
          if (made.exitCode !== 0) return no(`cannot create ${dir} on ${target.name}: ${made.stderr || `exit ${made.exitCode}`}`);
          return readyVerdict(session, config, dir, { name: target.name });
        });
      } catch (error) {
        if (!(error instanceof SshConnectionError)) throw error;
        const scope = hostFailureScope(error, LAUNCH_TARGET);
        // Our key refused, or unusable: every instance of this config would refuse it.
        if (scope?.configuration && error.kind !== "host_key_mismatch") throw new PermanentFailure(error.message, error.kind, scope);
        // Another key than the console showed: not our instance's sshd, or tampered with. Never used.
        if (error.kind === "host_key_mismatch") throw new PermanentFailure(error.message, error.kind);
        const now = timing.now();
        if (now >= deadline) throw new PermanentFailure(`${error.message}; SSH did not answer within bootTimeoutSeconds (${config.bootTimeoutSeconds} s)`, "ssh_timeout");
        if (now >= timing.sliceEnd) throw new TemporaryFailure(`${error.message}; SSH is not up yet, looking again`, "instance_booting", 1_000);
        await timing.sleep(Math.min(pollDelayMs(attempt, timing.random()), deadline.getTime() - now.getTime()));
        continue;
      }
      if (verdict.ok) return;
      throw verdict.cause === "configuration"
        ? new PermanentFailure(verdict.reason, "ready_command_missing", { target: LAUNCH_TARGET, configuration: true })
        : new PermanentFailure(verdict.reason, "host_not_ready");
    }
  }

  /** Best effort: the instance of a resource that failed for good goes at once (destroyResource makes sure). */
  async function terminateQuietly(cloud: Ec2Cloud, instance: InstanceInfo): Promise<void> {
    await cloud.terminateInstances([instance.instanceId]).catch(() => undefined);
  }

  return {
    kind: "ec2-host",
    resourceType: "host",
    description: "Hosts launched in EC2 (or an EC2-compatible endpoint) on demand, reached over SSH; terminated when their resource is destroyed.",
    parseConfig: parseEc2HostConfig,
    defaultResourceLimit: (config) => config.maxInstances,

    canEverAllocate(blueprint, lease) {
      return matchAttributes(lease.attributes, offeredAttributes(blueprint.config));
    },

    planResource(blueprint, lease, existing) {
      const failed = blueprint.failingTargets.find((f) => f.target === LAUNCH_TARGET);
      // Out of capacity: not a config error, so the lease waits (or goes to another blueprint).
      if (failed?.cause === "shortage") return no(`EC2 had no capacity (${failed.code}), launching again after ${failed.retryAt}: ${failed.message}`);
      if (failed) return misconfigured(`${failed.message} (fix the blueprint's config; tried again at ${failed.retryAt} otherwise)`);
      const match = matchAttributes(lease.attributes, offeredAttributes(blueprint.config));
      if (!match.ok) return match;
      // Every resource not destroyed may still have an instance: booting, running or terminating.
      if (existing.length >= blueprint.config.maxInstances) return no(`${existing.length} instances of at most ${blueprint.config.maxInstances} exist (booting, running or being terminated)`);
      return {
        attributes: { ...offeredAttributes(blueprint.config), region: blueprint.config.region },
        leaseSlots: blueprint.config.slots,
        locks: [],
        heldLeases: [],
      };
    },

    canAcquire(blueprint, resource, lease) {
      const match = matchAttributes(lease.attributes, offeredAttributes(blueprint.config));
      if (!match.ok) return match;
      const slots = Math.min(resource.leaseSlots, blueprint.config.slots);
      return resource.liveLeases >= slots ? no(`all ${slots} slots in use`) : yes;
    },

    // An instance costs money: fill its slots before launching another.
    shouldAllocateSupplemental: () => false,

    async activateResource(blueprint, resource) {
      const config = blueprint.config;
      const cloud = cloudOf(config);
      const now = options.clock.now();
      const timing: BootTiming = { now: () => options.clock.now(), sleep, random: options.random, sliceEnd: new Date(now.getTime() + sliceMs) };
      const launched = await findOrLaunch(cloud, config, { resourceId: resource.resourceId, blueprintId: blueprint.blueprintId, installationId: await installationId() });
      try {
        const { instance, address } = await waitForRunning(cloud, config, launched, timing);
        const hostKey = await waitForHostKey(cloud, config, instance, timing);
        const dir = `${config.root}/${resource.resourceId}`;
        const target = await sshTarget(config, instance.instanceId, address, hostKey.fingerprint);
        await sshReady(config, target, dir, bootDeadline(instance.launchTime ?? now, config), timing);
        return {
          instanceId: instance.instanceId,
          instanceType: instance.instanceType,
          subnetId: instance.subnetId,
          market: instance.spot ? "spot" : "on-demand",
          address,
          port: config.sshPort,
          user: config.sshUser,
          hostKeyFingerprint: hostKey.fingerprint,
          root: dir,
        };
      } catch (error) {
        if (error instanceof PermanentFailure) await terminateQuietly(cloud, launched);
        throw error;
      }
    },

    async destroyResource(blueprint, resource) {
      const cloud = cloudOf(blueprint.config);
      const known = typeof resource.attributes.instanceId === "string" ? [resource.attributes.instanceId] : [];
      // Also any instance launched for it whose id never made it into an event (a lost answer, a crash).
      const tagged = await ec2(() => cloud.describeInstances({ tags: { [TAGS.resource]: resource.resourceId } }), "looking for the resource's instances");
      const ids = [...new Set([...known, ...tagged.filter((i) => i.state !== "terminated").map((i) => i.instanceId)])];
      if (ids.length === 0) return;
      await ec2(() => cloud.terminateInstances(ids), `terminating ${ids.join(", ")}`);
      const after = await ec2(() => cloud.describeInstances({ instanceIds: ids }), `confirming the termination of ${ids.join(", ")}`);
      const stillUp = after.filter((i) => i.state !== "shutting-down" && i.state !== "terminated");
      if (stillUp.length > 0) {
        throw new TemporaryFailure(`instances ${stillUp.map((i) => `${i.instanceId} (${i.state})`).join(", ")} are not terminating yet`, "instance_not_terminating", 5_000);
      }
    },

    async activateLease(blueprint, resource, lease) {
      return activateSshLease(pool, leaseHost(blueprint.config, resource), lease.leaseId, leaseDirOf(blueprint, resource, lease.leaseId));
    },

    async destroyLease(blueprint, resource, lease) {
      // A resource that ended takes its instance with it: nothing to clean up there (and a dead
      // instance could not be reached to do it).
      if (resource.status !== "active" && resource.status !== "pending") {
        await pool.close(lease.leaseId);
        return;
      }
      return destroySshLease(pool, leaseHost(blueprint.config, resource), lease.leaseId, leaseDirOf(blueprint, resource, lease.leaseId));
    },

    async interfaces(blueprint, resource, lease, effects) {
      return sshLeaseInterfaces(pool, leaseHost(blueprint.config, resource), resource.resourceId, lease.leaseId, leaseDirOf(blueprint, resource, lease.leaseId), effects);
    },

    // Configuration errors (a wrong AMI, subnet, permission) are the launch settings' as a whole.
    targetOf: () => LAUNCH_TARGET,

    checkEnvironment(config) {
      checkPrivateKey(config);
    },

    commandConcurrency: (config) => config.maxConcurrentCommands,
    defaultLeaseTtlSeconds: (config) => config.defaultLeaseTtlSeconds ?? null,
    healthPolicy(blueprint) {
      const intervalMs = blueprint.config.healthIntervalSeconds * 1000;
      return { intervalMs, failuresBeforeBroken: blueprint.config.healthFailuresBeforeBroken, retryMs: Math.min(15_000, Math.max(1_000, intervalMs / 4)) };
    },

    async checkHealth(blueprint, resource) {
      try {
        return await withConnection(await targetOf(blueprint.config, resource), (session) => readyVerdict(session, blueprint.config, rootOf(blueprint, resource), { name: nameOf(resource) }));
      } catch (error) {
        if (error instanceof SshConnectionError) return no(error.message);
        throw error;
      }
    },

    retireReason(blueprint, resource, now) {
      // Counted from the log (its activation or its last lease's end), so a restart of the
      // service neither resets the count nor forgets an instance that idles.
      if (resource.liveLeases > 0 || !resource.idleSince) return null;
      // A warm pool (minReady, src/domain/pool-policy.ts) keeps its instances however long they
      // idle: with no more live than it asks for, retiring one would only make the pool build
      // another. The pool's own idleDestroySeconds releases the ones beyond it.
      const minReady = blueprint.pool?.minReady ?? 0;
      if (minReady > 0 && minReady >= blueprint.liveResources) return null;
      const idleMs = now.getTime() - new Date(resource.idleSince).getTime();
      if (idleMs < blueprint.config.idleTerminateSeconds * 1000) return null;
      return `idle for ${Math.round(idleMs / 1000)} s (idleTerminateSeconds ${blueprint.config.idleTerminateSeconds}): its instance is terminated`;
    },

    async close() {
      await pool.closeAll();
    },
  };
}

/** At create and PATCH: the private key reference can be read by the service (never read out here). */
function checkPrivateKey(config: Ec2HostConfig): void {
  const ref = config.privateKey;
  if ("env" in ref) {
    if (process.env[ref.env]) return;
    const field = "config.privateKey.env";
    throw new ValidationError(`${field}: environment variable ${ref.env} is not set in the Drydock service's environment`, { issues: [{ field, message: `environment variable ${ref.env} is not set` }] });
  }
  try {
    accessSync(ref.file, constants.R_OK);
  } catch (error) {
    const field = "config.privateKey.file";
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ValidationError(`${field}: the Drydock service cannot read ${ref.file} (${code})`, { issues: [{ field, message: `cannot read ${ref.file} (${code})` }] });
  }
}
