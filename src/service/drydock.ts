import { randomBytes } from "node:crypto";
import path from "node:path";
import { AllocatorWorker, type StepRetry, type WorkerOptions } from "../allocator/worker";
import type { WorkerContext } from "../allocator/worker-context";
import type { BlueprintImplementation } from "../blueprints/blueprint";
import { BlueprintRegistry } from "../blueprints/blueprint-registry";
import { LeaseInterfaceResolver } from "../blueprints/lease-interfaces";
import { localHostBlueprint, thisMachine } from "../blueprints/local-host-blueprint";
import { staticHostsBlueprint } from "../blueprints/static-hosts-blueprint";
import { workingCopyBlueprint } from "../blueprints/working-copy/working-copy-blueprint";
import { ec2HostBlueprint } from "../blueprints/ec2-host/ec2-host-blueprint";
import { sdkEc2Clouds, type SdkCloudOptions } from "../blueprints/ec2-host/ec2-sdk-cloud";
import { installationIdFromLog } from "../blueprints/ec2-host/installation-id";
import { Ec2LeakReaper } from "../blueprints/ec2-host/leak-reaper";
import { recordReapedInstance, reaperDepsFrom } from "./ec2-reaper-deps";
import { reportResourceFailure } from "../allocator/resource-failures";
import { DrydockMetrics } from "../metrics/drydock-metrics";
import { registerPoolGauges } from "../metrics/pool-gauges";
import { silentLogger, type Logger } from "./logger";
import { HealthLoop, type HealthLoopOptions } from "../allocator/health-loop";
import { LeaseLeftoverSweep } from "../allocator/lease-leftover-sweep";
import { PeriodicPass } from "./periodic-pass";
import { sweepLeaseLeftovers } from "./lease-leftover-logging";
import type { CommandContext } from "../commands/command-context";
import { systemClock, type Clock } from "../domain/clock";
import { DEFAULT_LEASE_TTL_SECONDS } from "../domain/lease-ttl";
import { randomIds, type IdGenerator } from "../domain/ids";
import { InlineTeardowns } from "../allocator/inline-teardowns";
import { LeaseActivations } from "../allocator/lease-activations";
import { SlotsInFlight } from "../allocator/slots-in-flight";
import { CapacityViewCache } from "../allocator/capacity-view-cache";
import { ChangeFeed } from "../store/change-feed";
import { ChangeNotifier } from "../store/change-notifier";
import { createEventStore } from "../store/create-event-store";
import { openDatabase, type Database } from "../store/database";
import type { EventStore } from "../store/event-store";
import { ensureLocalHostBlueprint } from "./default-blueprints";
import { StreamWatcher } from "./stream-watcher";
import { LocalSandbox } from "../sandbox/local-sandbox";
import { probeSandboxHost, type SandboxHost } from "../sandbox/sandbox-host";

const probes = new Map<string, Promise<SandboxHost>>();

/**
 * How long a NOTIFY waits for more notices to go out with it (change-notifier.ts): what other
 * instances' workers and watchers wait at most beyond the round trip, for one NOTIFY rather than
 * three in a lease cycle.
 */
const NOTICE_GATHER_MS = 25;
/** The machine does not change while the process runs: probe once per sandbox user. */
function probeSandboxHostOnce(userName: string | undefined): Promise<SandboxHost> {
  const key = userName ?? "";
  let probe = probes.get(key);
  if (!probe) probes.set(key, (probe = probeSandboxHost(userName ? { userName } : {})));
  return probe;
}

export interface DrydockOptions {
  /** postgres://… for PostgreSQL; otherwise PGlite in `dataDir` (in memory when both are unset). */
  databaseUrl?: string | undefined;
  /** Connections this process keeps to PostgreSQL at most (default 10). */
  databasePoolSize?: number;
  /** false: no named prepared statements on PostgreSQL (behind a pooler in transaction mode). Default true. */
  databasePreparedStatements?: boolean;
  dataDir?: string | undefined;
  /**
   * false: every waiting lease request reads its own capacity view, none decides over one kept
   * from an earlier request (the optimistic acquire: src/allocator/capacity-view-cache.ts). Default true.
   */
  keepCapacityViews?: boolean;
  /** An already open database (tests share one between several Drydock instances). */
  database?: Database;
  clock?: Clock;
  ids?: IdGenerator;
  random?: () => number;
  workerId?: string;
  /** Run the allocator worker in this process (default true). */
  worker?: boolean;
  workerOptions?: Partial<WorkerOptions>;
  /** Health checks of active resources run with the worker (src/allocator/health-loop.ts). */
  healthOptions?: Partial<HealthLoopOptions>;
  reclaimIdleMs?: number;
  /**
   * TTL of leases that name none, when neither their token nor their blueprint has a default
   * (src/domain/lease-ttl.ts). Default 3600; null: none (such leases live until released).
   */
  defaultLeaseTtlSeconds?: number | null;
  /** Blueprint kinds beyond the built-in ones. */
  blueprints?: BlueprintImplementation[];
  /** How the `ec2-host` blueprint's SDK clients are made (tests: fewer SDK retries). */
  ec2?: SdkCloudOptions;
  /**
   * The leak reaper of `ec2-host` instances (src/blueprints/ec2-host/leak-reaper.ts), run with the
   * worker: a pass every `intervalMs` (default 5 min), reaping after two passes `graceMs` apart
   * (default 10 min). false: not on an interval (drydock.ec2Reaper.pass() still works).
   */
  ec2Reaper?: { intervalMs?: number; graceMs?: number } | false;
  /**
   * The sweep of lease directories no live lease owns on the local host (src/allocator/lease-leftover-sweep.ts),
   * run with the worker: once at start, then every `intervalMs` (default 5 min), removing what has
   * not changed for `graceMs` (default 10 min). false: not on its own (drydock.leaseLeftovers.pass() still works).
   */
  leaseLeftovers?: { intervalMs?: number; graceMs?: number } | false;
  /** Create a `local-host` blueprint on start when none exists (default true). */
  localHost?: { root?: string; slots?: number } | false;
  /** A worker step failed (`retry`: its failures in a row and its next try; absent for failures outside a step). */
  onWorkerError?: (error: unknown, streamId: string, retry?: StepRetry) => void;
  /** Where the service logs (src/service/logger.ts); default: nowhere. Worker failures go here unless onWorkerError takes them. */
  logger?: Logger;
  /**
   * How the local host sandboxes client leases: the machine's facts (probed once per process
   * when not given), paths no sandbox may show (the service's home and database), and how long a
   * lease's kept file helper waits for its next request (10 s).
   */
  sandbox?: { host?: SandboxHost; userName?: string; hidden?: string[]; keptHelperIdleMs?: number };
}

/** One running Drydock: the database, the event store, the allocator worker, and what the API uses. */
export interface Drydock {
  database: Database;
  store: EventStore;
  /** Sends the appends' NOTIFYs in the background (change-notifier.ts); `flush()` waits for those handed over. */
  notifier: ChangeNotifier;
  registry: BlueprintRegistry;
  commands: CommandContext;
  interfaces: LeaseInterfaceResolver;
  logger: Logger;
  /** This process's Prometheus metrics (src/metrics/). */
  metrics: DrydockMetrics;
  worker: AllocatorWorker;
  /** Finds and terminates `ec2-host` instances nothing will use again (on demand: `pass({dryRun})`). */
  ec2Reaper: Ec2LeakReaper;
  /** Finds and removes lease directories on the local host that no live lease owns (on demand: `pass({dryRun})`). */
  leaseLeftovers: LeaseLeftoverSweep;
  watcher: StreamWatcher;
  clock: Clock;
  close(): Promise<void>;
}

export async function createDrydock(options: DrydockOptions = {}): Promise<Drydock> {
  const database = options.database ?? (await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir, ...(options.databasePoolSize ? { poolSize: options.databasePoolSize } : {}), preparedStatements: options.databasePreparedStatements ?? true }));
  const ownsDatabase = !options.database;
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? randomIds;
  const sandboxHost = options.sandbox?.host ?? (await probeSandboxHostOnce(options.sandbox?.userName));
  const hidden = [...(options.sandbox?.hidden ?? []), ...(options.dataDir ? [path.resolve(options.dataDir)] : [])];
  const localHost = localHostBlueprint(thisMachine(), { sandbox: new LocalSandbox(sandboxHost, { keptHelperIdleMs: options.sandbox?.keptHelperIdleMs }), hidden });
  const ec2Clouds = sdkEc2Clouds(options.ec2);
  // The store comes next; the installation id is only asked for when an instance is launched.
  let storeForIds: EventStore | undefined;
  const installationId = () => installationIdFromLog(async () => (await storeForIds!.readByPosition(0, 1))[0]);
  const ec2Host = ec2HostBlueprint({
    cloud: (location) => ec2Clouds.cloud(location),
    installationId,
    clock,
    random: options.random ?? Math.random,
  });
  const registry = new BlueprintRegistry([localHost, staticHostsBlueprint(), workingCopyBlueprint(), ec2Host, ...(options.blueprints ?? [])]);
  const logger = options.logger ?? silentLogger;
  const onWorkerError =
    options.onWorkerError ??
    ((error: unknown, streamId: string, retry?: StepRetry) =>
      logger.error({ streamId, err: error, ...(retry ? { failures: retry.failures, retryAt: retry.at.toISOString() } : {}) }, "worker step failed"));
  const metrics = new DrydockMetrics();
  registerPoolGauges(metrics.registry, database.db, clock);
  // This instance hears its own appends at once (change-feed.ts), so its NOTIFYs serve only other
  // instances: sent in the background (appends answer without waiting for the round trip; close()
  // flushes), each gathering the notices of a few milliseconds.
  const feed = new ChangeFeed(database, `d-${randomBytes(6).toString("hex")}`);
  const notifier = new ChangeNotifier(database, true, { gatherMs: NOTICE_GATHER_MS, origin: feed.origin, heard: (streams, due) => feed.heard(streams, due) });
  // Capacity views kept from lease requests, for the next ones to decide over (the optimistic acquire).
  const capacityViews = options.keepCapacityViews === false ? undefined : new CapacityViewCache();
  const store = createEventStore(database, clock, {
    committed: (events, states, seconds) => {
      capacityViews?.committed(events);
      metrics.observeAppend(events, states, seconds);
      if (logger.isLevelEnabled("debug")) {
        for (const e of events) logger.debug({ streamId: e.streamId, version: e.streamVersion, type: e.type, actor: e.metadata.actor, requestId: e.metadata.requestId }, "event appended");
      }
    },
    conflicted: (code) => metrics.appendConflicts.inc({ code }),
  }, notifier);
  storeForIds = store;
  const interfaces = new LeaseInterfaceResolver(database.db, registry);
  const commands: CommandContext = {
    db: database.db,
    store,
    registry,
    clock,
    ids,
    defaultLeaseTtlSeconds: options.defaultLeaseTtlSeconds === undefined ? DEFAULT_LEASE_TTL_SECONDS : options.defaultLeaseTtlSeconds,
    ...(capacityViews ? { capacityViews } : {}),
  };
  const ctx: WorkerContext = {
    db: database.db,
    store,
    registry,
    effects: interfaces,
    clock,
    ids,
    random: options.random ?? Math.random,
    workerId: options.workerId ?? `w-${randomBytes(4).toString("hex")}`,
    reclaimIdleMs: options.reclaimIdleMs ?? 5 * 60_000,
    slotsInFlight: new SlotsInFlight(),
    inlineTeardowns: new InlineTeardowns(),
    leaseActivations: new LeaseActivations(),
  };
  const worker = new AllocatorWorker(ctx, feed, {
    ...options.workerOptions,
    onError: onWorkerError,
  });
  await feed.start();
  const watcher = new StreamWatcher();
  watcher.start(feed);
  if (options.localHost !== false) await ensureLocalHostBlueprint(commands, options.localHost ?? {});
  const health = new HealthLoop(ctx, {
    ...options.healthOptions,
    onError: (error: unknown, resourceId: string) => onWorkerError(error, `resource-${resourceId}`),
  });
  interfaces.reportResourceFailuresTo((resourceId, failure) =>
    reportResourceFailure({ db: database.db, store, registry, clock, actor: `health:${ctx.workerId}`, onSuspect: () => health.nudge() }, resourceId, failure),
  );
  const ec2Reaper = new Ec2LeakReaper(
    reaperDepsFrom(database.db, {
      cloud: (location) => ec2Clouds.cloud(location),
      installationId,
      now: () => clock.now(),
      async record(reaped) {
        await recordReapedInstance(store, reaped, "ec2-reaper").catch((error: unknown) => {
          logger.error({ instanceId: reaped.instanceId, error: error instanceof Error ? error.message : String(error) }, "cannot record a reaped instance in the log");
        });
        logger.warn({ instanceId: reaped.instanceId, resourceId: reaped.resourceId, blueprintId: reaped.blueprintId, region: reaped.location.region, reason: reaped.reason, suspectSince: reaped.suspectSince.toISOString() }, "ec2 instance reaped");
      },
    }),
    options.ec2Reaper === false ? 10 * 60_000 : (options.ec2Reaper?.graceMs ?? 10 * 60_000),
  );
  const ec2Reaps = new PeriodicPass(
    async () => {
      const report = await ec2Reaper.pass();
      report.failures.forEach((f) => logger.warn({ region: f.location.region, message: f.message }, "ec2 leak reaper could not list instances"));
    },
    (error: unknown) => logger.error({ err: error }, "ec2 leak reaper pass failed"),
  );
  const leaseLeftovers = new LeaseLeftoverSweep(ctx, (options.leaseLeftovers === false ? undefined : options.leaseLeftovers?.graceMs) ?? 10 * 60_000);
  const leftoverSweeps = new PeriodicPass(
    () => sweepLeaseLeftovers(leaseLeftovers, logger, metrics),
    (error: unknown) => logger.error({ err: error }, "lease leftover sweep failed"),
  );
  if (options.worker !== false) {
    await worker.start();
    health.start();
    if (options.ec2Reaper !== false) ec2Reaps.start(options.ec2Reaper?.intervalMs ?? 5 * 60_000);
    // At start too: what a process that stopped mid-activation left is found without waiting an interval.
    if (options.leaseLeftovers !== false) leftoverSweeps.start(options.leaseLeftovers?.intervalMs ?? 5 * 60_000, { atStart: true });
  }

  return {
    database,
    store,
    notifier,
    registry,
    commands,
    interfaces,
    logger,
    metrics,
    worker,
    ec2Reaper,
    leaseLeftovers,
    watcher,
    clock,
    async close() {
      await ec2Reaps.stop();
      await leftoverSweeps.stop();
      await worker.stop();
      await health.stop();
      await registry.close();
      ec2Clouds.close();
      watcher.stop();
      await feed.stop();
      await notifier.flush();
      if (ownsDatabase) await database.close();
    },
  };
}
