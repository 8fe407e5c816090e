/**
 * Replay benchmark: how fast the projections are rebuilt from the log, and `drydock verify` reads
 * and checks it, on PostgreSQL and on PGlite; and how fast the log folds through the machines in memory.
 *
 *   npm run bench:replay -- [--events 1000000] [--db both|postgres|pglite] [--skip-fold] [--mode batched|event-by-event] [--baseline]
 *
 * `--mode event-by-event` times the rebuild through the inline projections themselves (the SQL the
 * appends run, a statement or more per event: the way the rebuild worked before the batch forms);
 * `--baseline` also times the fold through XState's interpreter, as the fold worked before the
 * compiled transition tables.
 *
 * The log is generated in the database with INSERT … SELECT generate_series (no projections, no
 * validation): a blueprint, a pool of resources, and lease lifecycles in waves, every lease
 * requested, acquired on a free slot, activated, released and destroyed, so the log is one the
 * service could have written and the rebuild takes and frees real slot locks. PostgreSQL runs on
 * a throwaway database made from DATABASE_URL; PGlite in a temporary directory. Prints figures,
 * asserts nothing.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { sql, type Kysely } from "kysely";
import pg from "pg";
import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine } from "xstate";
import { currentVersionOf, validateForAppend } from "../events/catalogue";
import type { RecordedEvent } from "../events/envelope";
import { inlineProjections } from "../projections/index";
import { StateAt } from "../src/history/state-at";
import { toMachineEvent } from "../src/machines/fold";
import { leaseMachine } from "../src/machines/lease-machine";
import { resourceMachine } from "../src/machines/resource-machine";
import { LogVerifier } from "../src/history/verify-log";
import { verifyStoredLog } from "../src/history/verify-stored-log";
import { PostgresEventStore } from "../src/store/event-store";
import { openDatabase } from "../src/store/database";
import { rebuildProjections, type RebuildMode } from "../src/store/rebuild-projections";
import type { DrydockDatabase } from "../src/store/schema";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "1000000" },
    db: { type: "string", default: "both" },
    "skip-fold": { type: "boolean" },
    mode: { type: "string", default: "batched" },
    baseline: { type: "boolean" },
  },
});
if (values.mode !== "batched" && values.mode !== "event-by-event") throw new Error(`--mode is batched or event-by-event, not ${values.mode}`);
const TARGET = Number(values.events);
const RESOURCES = 50;
const SLOTS = 4;
const WAVE = RESOURCES * SLOTS;
const PER_LEASE = 6;
const HEADER = 1 + RESOURCES * 2;
const LEASES = Math.max(1, Math.floor((TARGET - HEADER) / PER_LEASE));
const TOTAL = HEADER + LEASES * PER_LEASE;
const BASE = Date.parse("2026-01-01T00:00:00.000Z");
const STEP_MS = 10;

const rate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString("en-US")} events/s`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/* ------------------------------------------------------------------ the events of the log */

const leaseId = (n: number) => `ls_${String(n).padStart(12, "0")}`;
const resourceId = (r: number) => `rs_${String(r).padStart(6, "0")}`;
const BLUEPRINT = "bp_bench";

/** One lease's six events, in the shapes the SQL generator writes (checked against the catalogue). */
function leaseEventData(n: number): [string, Record<string, unknown>][] {
  const j = n % WAVE;
  const rs = resourceId(Math.floor(j / SLOTS));
  const slot = j % SLOTS;
  return [
    ["LeaseRequested", { leaseId: leaseId(n), resourceType: "sandbox", attributes: {}, blueprintIds: null, owner: `client-${n % 20}`, ownerResourceId: null, ttlSeconds: null, expiresAt: null, authorizingObject: null }],
    [
      "AllocationAttempted",
      { attempt: 1, decision: "acquire", candidates: [{ kind: "resource", id: rs, blueprintId: BLUEPRINT, outcome: "chosen", reason: "free" }], summary: `acquire slot ${slot} of ${rs}`, durationMs: 2 },
    ],
    ["LeaseAcquired", { resourceId: rs, blueprintId: BLUEPRINT, slot, locks: [`resource:${rs}:slot:${slot}`] }],
    ["LeaseActivated", { workingDirectory: null }],
    ["LeaseReleased", { reason: "requested", detail: null }],
    ["LeaseDestroyed", { cleanupError: null }],
  ];
}

function headerEventData(): [string, string, Record<string, unknown>][] {
  const out: [string, string, Record<string, unknown>][] = [
    [`blueprint-${BLUEPRINT}`, "BlueprintCreated", { blueprintId: BLUEPRINT, name: "bench", kind: "memory-pool", resourceType: "sandbox", config: { slots: SLOTS }, resourceLimit: RESOURCES }],
  ];
  for (let r = 0; r < RESOURCES; r++) {
    const id = resourceId(r);
    out.push([`resource-${id}`, "ResourceAllocated", { resourceId: id, blueprintId: BLUEPRINT, resourceType: "sandbox", attributes: {}, leaseSlots: SLOTS, locks: [`blueprint:${BLUEPRINT}:limit:${r}`], forLeaseId: null }]);
  }
  for (let r = 0; r < RESOURCES; r++) out.push([`resource-${resourceId(r)}`, "ResourceActivated", { attributes: {} }]);
  return out;
}

/** Global position of event k of lease n: leases run in waves that fill every slot once. */
const positionOf = (n: number, k: number) => HEADER + Math.floor(n / WAVE) * WAVE * PER_LEASE + k * WAVE + (n % WAVE) + 1;

/** The log in memory, in position order (for the fold), one event at a time. */
function* logInMemory(): Generator<RecordedEvent> {
  const header = headerEventData();
  const versions = new Map<string, number>();
  for (const [i, [streamId, type, data]] of header.entries()) {
    const v = (versions.get(streamId) ?? 0) + 1;
    versions.set(streamId, v);
    yield event(i + 1, streamId, v, type, data);
  }
  for (let wave = 0; wave * WAVE < LEASES; wave++) {
    const first = wave * WAVE;
    const last = Math.min(LEASES, first + WAVE);
    const data = Array.from({ length: last - first }, (_, i) => leaseEventData(first + i));
    for (let k = 0; k < PER_LEASE; k++) {
      for (let n = first; n < last; n++) {
        const [type, d] = data[n - first]![k]!;
        yield event(positionOf(n, k), `lease-${leaseId(n)}`, k + 1, type, d);
      }
    }
  }
}

function event(position: number, streamId: string, streamVersion: number, type: string, data: unknown): RecordedEvent {
  return {
    globalPosition: position,
    transactionId: "1000",
    eventId: String(position),
    streamId,
    streamVersion,
    type,
    version: currentVersionOf(type),
    data,
    metadata: { actor: "bench" },
    recordedAt: new Date(BASE + position * STEP_MS),
  };
}

/* ------------------------------------------------------------------ the log in SQL */

/**
 * Writes the log with a few INSERT … SELECT generate_series statements. Each lease event's data
 * is a jsonb_build_object over the lease number; positions are given explicitly (OVERRIDING
 * SYSTEM VALUE) so the waves interleave exactly as positionOf says.
 */
async function generateLog(db: Kysely<DrydockDatabase>): Promise<void> {
  const v = (type: string) => currentVersionOf(type);
  const header = headerEventData();
  const headerRows = header.map(([streamId, type, data], i) => {
    const version = header.slice(0, i + 1).filter(([s]) => s === streamId).length;
    return sql`(${i + 1}::bigint, ${streamId}::text, ${version}::int, ${type}::text, ${v(type)}::smallint, ${JSON.stringify(data)}::jsonb, ${new Date(BASE + (i + 1) * STEP_MS)}::timestamptz)`;
  });
  await sql`INSERT INTO events (global_position, stream_id, stream_version, event_type, schema_version, data, recorded_at, event_id, metadata)
            OVERRIDING SYSTEM VALUE
            SELECT p, s, sv, t, ver, d, r, gen_random_uuid(), '{"actor":"bench"}'::jsonb
              FROM (VALUES ${sql.join(headerRows)}) AS h(p, s, sv, t, ver, d, r)`.execute(db);
  const lid = sql.raw(`'ls_' || lpad(n::text, 12, '0')`);
  const rs = sql.raw(`'rs_' || lpad(((n % ${WAVE}) / ${SLOTS})::text, 6, '0')`);
  const slot = sql.raw(`(n % ${SLOTS})`);
  const chunk = 50_000;
  for (let from = 0; from < LEASES; from += chunk) {
    const to = Math.min(LEASES, from + chunk) - 1;
    await sql`
      INSERT INTO events (global_position, stream_id, stream_version, event_type, schema_version, data, recorded_at, event_id, metadata)
      OVERRIDING SYSTEM VALUE
      SELECT pos, 'lease-' || ${lid}, k + 1, t, ver, d, ${new Date(BASE)}::timestamptz + pos * interval '${sql.raw(String(STEP_MS))} milliseconds', gen_random_uuid(), '{"actor":"bench"}'::jsonb
        FROM generate_series(${from}::bigint, ${to}::bigint) AS n
       CROSS JOIN generate_series(0, 5) AS k
       CROSS JOIN LATERAL (SELECT ${sql.lit(HEADER)} + (n / ${sql.lit(WAVE)}) * ${sql.lit(WAVE * PER_LEASE)} + k * ${sql.lit(WAVE)} + (n % ${sql.lit(WAVE)}) + 1 AS pos) AS p
       CROSS JOIN LATERAL (SELECT
          (ARRAY['LeaseRequested','AllocationAttempted','LeaseAcquired','LeaseActivated','LeaseReleased','LeaseDestroyed'])[k + 1] AS t,
          (ARRAY[${sql.lit(v("LeaseRequested"))},${sql.lit(v("AllocationAttempted"))},${sql.lit(v("LeaseAcquired"))},${sql.lit(v("LeaseActivated"))},${sql.lit(v("LeaseReleased"))},${sql.lit(v("LeaseDestroyed"))}]::smallint[])[k + 1] AS ver,
          CASE k
            WHEN 0 THEN jsonb_build_object('leaseId', ${lid}, 'resourceType', 'sandbox', 'attributes', '{}'::jsonb, 'blueprintIds', NULL, 'owner', 'client-' || (n % 20),
                                           'ownerResourceId', NULL, 'ttlSeconds', NULL, 'expiresAt', NULL, 'authorizingObject', NULL)
            WHEN 1 THEN jsonb_build_object('attempt', 1, 'decision', 'acquire',
                                           'candidates', jsonb_build_array(jsonb_build_object('kind', 'resource', 'id', ${rs}, 'blueprintId', ${sql.lit(BLUEPRINT)}, 'outcome', 'chosen', 'reason', 'free')),
                                           'summary', 'acquire slot ' || ${slot} || ' of ' || ${rs}, 'durationMs', 2)
            WHEN 2 THEN jsonb_build_object('resourceId', ${rs}, 'blueprintId', ${sql.lit(BLUEPRINT)}, 'slot', ${slot}, 'locks', jsonb_build_array('resource:' || ${rs} || ':slot:' || ${slot}))
            WHEN 3 THEN '{"workingDirectory":null}'::jsonb
            WHEN 4 THEN '{"reason":"requested","detail":null}'::jsonb
            ELSE '{"cleanupError":null}'::jsonb
          END AS d) AS e`.execute(db);
  }
  await sql`SELECT setval(pg_get_serial_sequence('events', 'global_position'), (SELECT max(global_position) FROM events))`.execute(db);
  await sql`INSERT INTO streams (stream_id, stream_type, version, updated_at)
            SELECT 'lease-' || ${lid}, 'lease', 6, now() FROM generate_series(0, ${sql.lit(LEASES - 1)}) AS n
            UNION ALL SELECT 'resource-' || 'rs_' || lpad(r::text, 6, '0'), 'resource', 2, now() FROM generate_series(0, ${sql.lit(RESOURCES - 1)}) AS r
            UNION ALL SELECT ${sql.lit(`blueprint-${BLUEPRINT}`)}, 'blueprint', 1, now()`.execute(db);
  await sql`ANALYZE events`.execute(db);
}

/** The SQL generator and the in-memory one must write what the catalogue accepts: check a sample. */
function checkShapes(): void {
  for (const [type, data] of leaseEventData(7)) validateForAppend(type, data);
  for (const [, type, data] of headerEventData()) validateForAppend(type, data);
}

/* ------------------------------------------------------------------ the measurements */

async function benchDatabase(kind: "postgres" | "pglite"): Promise<void> {
  let url: string | undefined;
  let drop = async () => {};
  if (kind === "postgres") {
    const admin = process.env.DATABASE_URL;
    if (!admin) {
      console.log("postgres: skipped (set DATABASE_URL to a server where a throwaway database may be created)");
      return;
    }
    const name = `drydock_bench_${randomBytes(5).toString("hex")}`;
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    await client.query(`CREATE DATABASE ${name}`);
    await client.end();
    const u = new URL(admin);
    u.pathname = `/${name}`;
    url = u.toString();
    drop = async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    };
  }
  let dataDir: string | undefined;
  if (kind === "pglite") {
    // On disk as the service runs it (and WebAssembly memory stays small).
    dataDir = await mkdtemp(path.join(tmpdir(), "drydock-bench-"));
    const dir = dataDir;
    drop = async () => rm(dir, { recursive: true, force: true });
  }
  const database = await openDatabase({ url, dataDir: dataDir && path.join(dataDir, "data"), poolSize: 2 });
  try {
    let t = performance.now();
    await generateLog(database.db);
    const count = Number((await sql<{ n: string }>`SELECT count(*) AS n FROM events`.execute(database.db)).rows[0]!.n);
    console.log(`${kind}: generated ${count.toLocaleString("en-US")} events (${LEASES.toLocaleString("en-US")} leases, ${RESOURCES} resources x ${SLOTS} slots) in ${secs(performance.now() - t)}`);
    t = performance.now();
    let last = t;
    const { events, mode, batchedFailure } = await rebuildProjections(database.db, inlineProjections, {
      batchSize: 5000,
      mode: values.mode as RebuildMode,
      onProgress: (n) => {
        if (performance.now() - last > 30_000) {
          last = performance.now();
          console.log(`${kind}:   … ${n.toLocaleString("en-US")} events, ${rate(n, last - t)}`);
        }
      },
    });
    const ms = performance.now() - t;
    const leases = await database.db.selectFrom("leases").select((eb) => eb.fn.countAll<string>().as("n")).where("status", "=", "destroyed").executeTakeFirstOrThrow();
    if (batchedFailure) console.log(`${kind}: the batched replay failed (${batchedFailure})`);
    console.log(`${kind}: rebuilt every projection (${mode}) from ${events.toLocaleString("en-US")} events in ${secs(ms)}: ${rate(events, ms)} (${Number(leases.n).toLocaleString("en-US")} leases destroyed)`);
    // `drydock verify`'s own path (verify-cli.ts): the log read through the event store, a page at a time.
    t = performance.now();
    const report = await verifyStoredLog(new PostgresEventStore(database.db, [], { now: () => new Date() }));
    const verified = performance.now() - t;
    console.log(`${kind}: drydock verify read and checked ${count.toLocaleString("en-US")} events in ${secs(verified)}: ${rate(count, verified)}; ${report.violations.length} violations`);
  } finally {
    await database.close();
    await drop();
  }
}

/** The log in memory in chunks, so that a timed loop does no generating and a long log is never held whole. */
function* logInChunks(size = 5000): Generator<RecordedEvent[]> {
  let chunk: RecordedEvent[] = [];
  for (const e of logInMemory()) {
    chunk.push(e);
    if (chunk.length === size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** Milliseconds spent in `consume` over the whole log (generation not counted). */
function timeOver(consume: (e: RecordedEvent) => void): number {
  let ms = 0;
  for (const chunk of logInChunks()) {
    const t = performance.now();
    for (const e of chunk) consume(e);
    ms += performance.now() - t;
  }
  return ms;
}

/**
 * The baseline the fold replaced: each event through XState's interpreter (`can`, then
 * `transition`), as src/machines/fold.ts did before it ran the compiled transition table.
 */
function xstateFold(): (e: RecordedEvent) => void {
  const machines = { lease: leaseMachine, resource: resourceMachine } as Record<string, AnyStateMachine>;
  const snaps = new Map<string, AnyMachineSnapshot>();
  return (e) => {
    const machine = machines[e.streamId.slice(0, e.streamId.indexOf("-"))];
    if (!machine) return;
    const snap = snaps.get(e.streamId) ?? initialTransition(machine)[0];
    const event = toMachineEvent(e);
    if (!snap.can(event as never)) throw new Error(`${e.streamId}@${e.streamVersion}: ${e.type} refused`);
    snaps.set(e.streamId, transition(machine, snap, event as never)[0]);
  };
}

function benchFold(): void {
  const n = TOTAL;
  const state = new StateAt({});
  const fold = timeOver((e) => state.add(e));
  const verifier = new LogVerifier();
  const verify = timeOver((e) => verifier.add(e));
  const report = verifier.finish();
  console.log(`fold: ${n.toLocaleString("en-US")} events through the machines' transition tables in ${secs(fold)}: ${rate(n, fold)} (state of every lease and resource)`);
  console.log(`fold: verify (machines + capacity invariants) in ${secs(verify)}: ${rate(n, verify)}; ${report.violations.length} violations`);
  if (values.baseline) {
    const reference = timeOver(xstateFold());
    console.log(`fold: baseline, the same log through XState's transition() in ${secs(reference)}: ${rate(n, reference)}`);
  }
}

async function main(): Promise<void> {
  checkShapes();
  console.log(`replay benchmark: ${TOTAL.toLocaleString("en-US")} events, node ${process.version}`);
  if (!values["skip-fold"]) benchFold();
  if (values.db === "both" || values.db === "postgres") await benchDatabase("postgres");
  if (values.db === "both" || values.db === "pglite") await benchDatabase("pglite");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
