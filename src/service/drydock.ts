import { randomBytes } from "node:crypto";
import path from "node:path";
import { AllocatorWorker, type WorkerOptions } from "../allocator/worker";
import type { WorkerContext } from "../allocator/worker-context";
import type { BlueprintImplementation } from "../blueprints/blueprint";
import { BlueprintRegistry } from "../blueprints/blueprint-registry";
import { LeaseInterfaceResolver } from "../blueprints/lease-interfaces";
import { localHostBlueprint, thisMachine } from "../blueprints/local-host-blueprint";
import { staticHostsBlueprint } from "../blueprints/static-hosts-blueprint";
import { reportResourceFailure } from "../allocator/resource-failures";
import { DrydockMetrics } from "../metrics/drydock-metrics";
import { registerPoolGauges } from "../metrics/pool-gauges";
import { silentLogger, type Logger } from "./logger";
import { HealthLoop, type HealthLoopOptions } from "../allocator/health-loop";
import type { CommandContext } from "../commands/command-context";
import { systemClock, type Clock } from "../domain/clock";
import { DEFAULT_LEASE_TTL_SECONDS } from "../domain/lease-ttl";
import { randomIds, type IdGenerator } from "../domain/ids";
import { createEventStore } from "../store/create-event-store";
import { openDatabase, type Database } from "../store/database";
import type { EventStore } from "../store/event-store";
import { ensureLocalHostBlueprint } from "./default-blueprints";
import { StreamWatcher } from "./stream-watcher";
import { LocalSandbox } from "../sandbox/local-sandbox";
import { probeSandboxHost, type SandboxHost } from "../sandbox/sandbox-host";

const probes = new Map<string, Promise<SandboxHost>>();
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
  dataDir?: string | undefined;
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
  /** Create a `local-host` blueprint on start when none exists (default true). */
  localHost?: { root?: string; slots?: number } | false;
  onWorkerError?: (error: unknown, streamId: string) => void;
  /** Where the service logs (src/service/logger.ts); default: nowhere. Worker failures go here unless onWorkerError takes them. */
  logger?: Logger;
  /**
   * How the local host sandboxes client leases: the machine's facts (probed once per process
   * when not given), and paths no sandbox may show (the service's home and database).
   */
  sandbox?: { host?: SandboxHost; userName?: string; hidden?: string[] };
}

/** One running Drydock: the database, the event store, the allocator worker, and what the API uses. */
export interface Drydock {
  database: Database;
  store: EventStore;
  registry: BlueprintRegistry;
  commands: CommandContext;
  interfaces: LeaseInterfaceResolver;
  logger: Logger;
  /** This process's Prometheus metrics (src/metrics/). */
  metrics: DrydockMetrics;
  worker: AllocatorWorker;
  watcher: StreamWatcher;
  clock: Clock;
  close(): Promise<void>;
}

export async function createDrydock(options: DrydockOptions = {}): Promise<Drydock> {
  const database = options.database ?? (await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir }));
  const ownsDatabase = !options.database;
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? randomIds;
  const sandboxHost = options.sandbox?.host ?? (await probeSandboxHostOnce(options.sandbox?.userName));
  const hidden = [...(options.sandbox?.hidden ?? []), ...(options.dataDir ? [path.resolve(options.dataDir)] : [])];
  const localHost = localHostBlueprint(thisMachine(), { sandbox: new LocalSandbox(sandboxHost), hidden });
  const registry = new BlueprintRegistry([localHost, staticHostsBlueprint(), ...(options.blueprints ?? [])]);
  const logger = options.logger ?? silentLogger;
  const onWorkerError = options.onWorkerError ?? ((error: unknown, streamId: string) => logger.error({ streamId, err: error }, "worker step failed"));
  const metrics = new DrydockMetrics();
  registerPoolGauges(metrics.registry, database.db, clock);
  const store = createEventStore(database, clock, {
    committed: (events, states, seconds) => {
      metrics.observeAppend(events, states, seconds);
      if (logger.isLevelEnabled("debug")) {
        for (const e of events) logger.debug({ streamId: e.streamId, version: e.streamVersion, type: e.type, actor: e.metadata.actor, requestId: e.metadata.requestId }, "event appended");
      }
    },
    conflicted: (code) => metrics.appendConflicts.inc({ code }),
  });
  const interfaces = new LeaseInterfaceResolver(database.db, registry);
  const commands: CommandContext = {
    db: database.db,
    store,
    registry,
    clock,
    ids,
    defaultLeaseTtlSeconds: options.defaultLeaseTtlSeconds === undefined ? DEFAULT_LEASE_TTL_SECONDS : options.defaultLeaseTtlSeconds,
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
  };
  const worker = new AllocatorWorker(ctx, database, {
    ...options.workerOptions,
    onError: onWorkerError,
  });
  const watcher = new StreamWatcher();
  await watcher.start(database);
  if (options.localHost !== false) await ensureLocalHostBlueprint(commands, options.localHost ?? {});
  const health = new HealthLoop(ctx, {
    ...options.healthOptions,
    onError: (error: unknown, resourceId: string) => onWorkerError(error, `resource-${resourceId}`),
  });
  interfaces.reportResourceFailuresTo((resourceId, failure) =>
    reportResourceFailure({ db: database.db, store, registry, clock, actor: `health:${ctx.workerId}`, onSuspect: () => health.nudge() }, resourceId, failure),
  );
  if (options.worker !== false) {
    await worker.start();
    health.start();
  }

  return {
    database,
    store,
    registry,
    commands,
    interfaces,
    logger,
    metrics,
    worker,
    watcher,
    clock,
    async close() {
      await worker.stop();
      await health.stop();
      await registry.close();
      await watcher.stop();
      if (ownsDatabase) await database.close();
    },
  };
}
