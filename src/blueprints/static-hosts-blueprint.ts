/**
 * `static-hosts`: a pool of SSH hosts an operator lists (Drydock's Almanac hosts). A resource of
 * type `host` is one host; each lease on it gets a directory `<root>/<resource>/leases/<lease>`
 * there, and runs commands and moves files over SSH and SFTP.
 *
 * Invariants:
 * - At most one live resource per host, however many allocators run: a resource holds the slot
 *   lock `static-hosts:<blueprint>:<host>` until it is destroyed, and planResource skips hosts
 *   whose resource is still there (ended ones included, until their teardown is done).
 * - The predicates read the host's current config (by the resource's `host` attribute), so a
 *   host drained, changed or removed through PATCH /v1/blueprints/{id} takes effect on the next
 *   decision: a drained or removed host takes no new lease and its leases run out.
 * - Host keys are pinned; a host that shows another key is never used (see ssh-target.ts).
 * - Every process a lease starts ends with the lease (ssh-lease-effects.ts, shared with
 *   `ec2-host`). Commands run under `ulimit -u maxProcesses`.
 * - A broken host's teardown waits until the host answers again (or leaves the config): until
 *   then it keeps its lock, so no new resource is built on a host that is down. The teardown is
 *   retried every health interval, and the host rejoins the pool by itself when it is back.
 */
import { PermanentFailure, TemporaryFailure } from "./failures";
import { InterfaceUnavailableError } from "../domain/errors";
import { SshConnectionPool, type SshPoolOptions } from "../interfaces/ssh-connections";
import { SshConnectionError } from "../interfaces/ssh-target";
import { makeDirectoryCommandLine, removeTreeCommandLine } from "../interfaces/remote-shell";
import { matchAttributes } from "./attribute-match";
import { misconfigured, no, yes, type BlueprintImplementation, type BlueprintView, type ResourceView } from "./blueprint";
import { findHost, offeredAttributes, parseStaticHostsConfig, resourceDir, type StaticHost, type StaticHostsConfig } from "./static-hosts-config";
import { activationFailure, checkPrivateKeyReference, hostFailureScope, readyVerdict, runRaw, targetOf, withConnection } from "./static-hosts-remote";
import { activateSshLease, destroySshLease, HOUSEKEEPING_TIMEOUT_MS, sshLeaseInterfaces, type SshLeaseHost } from "./ssh-lease-effects";

type View = BlueprintView<StaticHostsConfig>;

/** A host as the lease effects (ssh-lease-effects.ts) reach it. */
const leaseHost = (config: StaticHostsConfig, host: StaticHost): SshLeaseHost => ({
  name: host.name,
  target: () => targetOf(config, host),
  allowShell: config.allowShell,
  maxProcesses: config.maxProcesses,
});

export function staticHostsBlueprint(options: { pool?: SshPoolOptions } = {}): BlueprintImplementation<StaticHostsConfig> {
  // One connection per lease, shared by its commands and file operations (ssh-connections.ts).
  const pool = new SshConnectionPool(options.pool);

  const hostOf = (blueprint: View, resource: ResourceView): StaticHost | undefined => findHost(blueprint.config, resource.attributes.host);
  /** The resource's directory as fixed when it activated: a later change of `root` moves nothing. */
  const rootOf = (blueprint: View, resource: ResourceView): string =>
    typeof resource.attributes.root === "string" ? resource.attributes.root : resourceDir(blueprint.config, resource.resourceId);
  const leaseDirOf = (blueprint: View, resource: ResourceView, leaseId: string) => `${rootOf(blueprint, resource)}/leases/${leaseId}`;

  return {
    kind: "static-hosts",
    resourceType: "host",
    description: "A pool of SSH hosts listed in the config; each lease gets its own directory on one of them.",
    parseConfig: parseStaticHostsConfig,
    defaultResourceLimit: () => null,

    canEverAllocate(blueprint, lease) {
      const hosts = blueprint.config.hosts;
      if (hosts.length === 0) return no("the blueprint lists no hosts");
      // Drained hosts count: draining one for maintenance must not break the leases waiting for it.
      const misses: string[] = [];
      for (const host of hosts) {
        const match = matchAttributes(lease.attributes, offeredAttributes(host));
        if (match.ok) return yes;
        misses.push(`${host.name} ${match.reason}`);
      }
      return no(`no host matches: ${summarize(misses)}`);
    },

    planResource(blueprint, lease, existing) {
      const taken = new Map<string, ResourceView>();
      for (const r of existing) if (typeof r.attributes.host === "string") taken.set(r.attributes.host, r);
      const failing = new Map(blueprint.failingTargets.map((f) => [f.target, f]));
      const free: StaticHost[] = [];
      const why: string[] = [];
      const configErrors: string[] = [];
      for (const host of blueprint.config.hosts) {
        const match = matchAttributes(lease.attributes, offeredAttributes(host));
        if (!match.ok) continue;
        const last = taken.get(host.name);
        const status = last?.status;
        const failed = failing.get(host.name);
        if (host.drained) why.push(`${host.name} is drained`);
        else if (failed) configErrors.push(`${failed.message} (fix the blueprint's config; tried again at ${failed.retryAt} otherwise)`);
        else if (status === "pending" || status === "active") why.push(`${host.name} has a resource already`);
        else if (status !== undefined) {
          const cause = last?.endReason ? ` (${last.endReason})` : "";
          why.push(`${host.name}'s last resource is ${status}${cause} and not torn down yet: the host takes no new one until it answers again`);
        }
        else free.push(host);
      }
      if (free.length === 0) {
        if (why.length === 0 && configErrors.length > 0) return misconfigured(summarize(configErrors));
        return no(why.length + configErrors.length > 0 ? summarize([...configErrors, ...why]) : "no host matches");
      }
      // Spread concurrent allocators over the free hosts instead of all racing for the first.
      const host = free[hashOf(lease.leaseId) % free.length]!;
      return {
        attributes: { ...offeredAttributes(host), address: host.address, port: host.port, user: host.user },
        leaseSlots: host.slots,
        locks: [`static-hosts:${blueprint.blueprintId}:${host.name}`],
        heldLeases: [],
      };
    },

    canAcquire(blueprint, resource, lease) {
      const host = hostOf(blueprint, resource);
      if (!host) return no(`host ${String(resource.attributes.host)} is no longer in the blueprint`);
      if (host.drained) return no(`host ${host.name} is drained`);
      const match = matchAttributes(lease.attributes, offeredAttributes(host));
      if (!match.ok) return match;
      // Lowering a host's slots applies at once; raising them applies to its next resource.
      const slots = Math.min(resource.leaseSlots, host.slots);
      return resource.liveLeases >= slots ? no(`all ${slots} slots in use`) : yes;
    },

    // Spread leases over the hosts before doubling up on one (as Drydock's Almanac hosts).
    shouldAllocateSupplemental: () => true,

    async activateResource(blueprint, resource) {
      const host = hostOf(blueprint, resource);
      if (!host) throw new PermanentFailure(`host ${String(resource.attributes.host)} is no longer in the blueprint`, "host_removed");
      const dir = resourceDir(blueprint.config, resource.resourceId);
      try {
        const target = await targetOf(blueprint.config, host);
        const verdict = await withConnection(target, async (session) => {
          const made = await runRaw(session, makeDirectoryCommandLine(`${dir}/leases`), HOUSEKEEPING_TIMEOUT_MS);
          if (made.exitCode !== 0) return no(`cannot create ${dir} on ${host.name}: ${made.stderr || `exit ${made.exitCode}`}`);
          return readyVerdict(session, blueprint.config, dir, host);
        });
        if (!verdict.ok) {
          throw verdict.cause === "configuration"
            ? new PermanentFailure(verdict.reason, "ready_command_missing", { target: host.name, configuration: true })
            : new PermanentFailure(verdict.reason, "host_not_ready");
        }
      } catch (error) {
        throw activationFailure(error, host.name);
      }
      return { root: dir };
    },

    async destroyResource(blueprint, resource) {
      const host = hostOf(blueprint, resource);
      // Removed from the config: nothing left to reach it with.
      if (!host) return;
      const dir = rootOf(blueprint, resource);
      try {
        await withConnection(await targetOf(blueprint.config, host), (session) => runRaw(session, removeTreeCommandLine(dir), HOUSEKEEPING_TIMEOUT_MS));
      } catch (error) {
        if (!(error instanceof SshConnectionError)) throw error;
        // Never activated, and refused for a configuration error: the connection that would
        // have made its directory never opened, so nothing of ours is on the host. (A host that
        // is down keeps its resource until it answers: that is what stops new builds on it.)
        if (resource.attributes.root === undefined && hostFailureScope(error, host.name)?.configuration) return;
        throw new TemporaryFailure(
          `cannot clean up ${dir} on ${host.name}: ${error.message}; no new resource is built on the host until it answers`,
          "host_unreachable",
          blueprint.config.healthIntervalSeconds * 1000,
        );
      }
    },

    async activateLease(blueprint, resource, lease) {
      const host = hostOf(blueprint, resource);
      if (!host) throw new PermanentFailure(`host ${String(resource.attributes.host)} is no longer in the blueprint`, "host_removed");
      return activateSshLease(pool, leaseHost(blueprint.config, host), lease.leaseId, leaseDirOf(blueprint, resource, lease.leaseId));
    },

    async destroyLease(blueprint, resource, lease) {
      const host = hostOf(blueprint, resource);
      // Removed from the config: nothing left to reach it with (its processes stay; README).
      if (!host) {
        await pool.close(lease.leaseId);
        return;
      }
      return destroySshLease(pool, leaseHost(blueprint.config, host), lease.leaseId, leaseDirOf(blueprint, resource, lease.leaseId));
    },

    async interfaces(blueprint, resource, lease, effects) {
      const host = hostOf(blueprint, resource);
      if (!host) throw new InterfaceUnavailableError(`host ${String(resource.attributes.host)} is no longer in the blueprint`);
      return sshLeaseInterfaces(pool, leaseHost(blueprint.config, host), resource.resourceId, lease.leaseId, leaseDirOf(blueprint, resource, lease.leaseId), effects);
    },

    targetOf: (resource) => (typeof resource.attributes.host === "string" ? resource.attributes.host : null),

    checkEnvironment(config) {
      config.hosts.forEach((host, i) => checkPrivateKeyReference(host, i));
    },

    commandConcurrency: (config) => config.maxConcurrentCommands,
    defaultLeaseTtlSeconds: (config) => config.defaultLeaseTtlSeconds ?? null,
    healthPolicy(blueprint) {
      const intervalMs = blueprint.config.healthIntervalSeconds * 1000;
      return {
        intervalMs,
        failuresBeforeBroken: blueprint.config.healthFailuresBeforeBroken,
        retryMs: Math.min(15_000, Math.max(1_000, intervalMs / 4)),
      };
    },

    async checkHealth(blueprint, resource) {
      const host = hostOf(blueprint, resource);
      // Removed from the config: its leases run out and retireReason releases it; nothing to check.
      if (!host) return yes;
      try {
        return await withConnection(await targetOf(blueprint.config, host), (session) => readyVerdict(session, blueprint.config, rootOf(blueprint, resource), host));
      } catch (error) {
        if (error instanceof SshConnectionError) return no(error.message);
        throw error;
      }
    },

    retireReason(blueprint, resource) {
      const host = hostOf(blueprint, resource);
      if (!host) return `host ${String(resource.attributes.host)} was removed from the blueprint`;
      if (host.drained) return `host ${host.name} is drained`;
      return null;
    },

    async close() {
      await pool.closeAll();
    },
  };
}

function summarize(parts: readonly string[]): string {
  return parts.length <= 4 ? parts.join("; ") : `${parts.slice(0, 4).join("; ")}; and ${parts.length - 4} more`;
}

/** FNV-1a: a stable spread of lease ids over hosts (pure, no randomness). */
function hashOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

