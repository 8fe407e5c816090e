import { parentPort, workerData } from "node:worker_threads";
import { PGlite } from "@electric-sql/pglite";
import { assertNever } from "../domain/errors";
import { PGlitePreparedStatements } from "./pglite-prepared";
import { JSON_ARRAY_TYPE_IDS, JSON_TYPE_IDS, type PGliteThreadRequest, type PGliteThreadReply, type PGliteThreadData } from "./pglite-thread-protocol";

/**
 * The thread PGlite runs in (pglite-thread.ts starts it): the database's WebAssembly backend on a
 * core of its own, while the service's thread decides, answers HTTP and plans the next statement.
 *
 * PGlite is one session. Statements come from the service's connections (pglite-dialect.ts) and
 * run one at a time, in the order they arrive, prepared once per text (pglite-prepared.ts); a
 * connection that opens a transaction (BEGIN) owns the session until its COMMIT or ROLLBACK, and
 * other connections' statements wait in the queue meanwhile, keeping their order. That is the
 * isolation a PostgreSQL pool's connections get from their own sessions, as the service's
 * one-connection mutex gave before, without holding every statement while the service's thread
 * is busy: a statement waits only for the ones before it, never for the service to read an answer.
 */
const start = workerData as PGliteThreadData;
const port = parentPort!;
// json and jsonb values stay text here and are parsed on the service's thread (parseJsonFields): a
// message carries a string at the cost of a copy, where the objects parsed from it were cloned
// node by node, here and again there. On this thread, the database's, that clone and the parse
// were about an eighth of its time in a lease cycle: the view and every append answer in JSON.
const asText = (value: string) => value;
const parsers = Object.fromEntries(JSON_TYPE_IDS.map((id) => [id, asText]));
const pglite = await PGlite.create({ pgliteWasmModule: start.pgliteWasmModule, fsBundle: new Blob([start.fsBundle]), ...(start.dataDir ? { dataDir: start.dataDir } : start.template ? { loadDataDir: new Blob([start.template]) } : {}), parsers });
const statements = new PGlitePreparedStatements(pglite);
const queue: PGliteThreadRequest[] = [];
/** The connection whose transaction is open: only its statements run until it ends. */
let owner: number | null = null;
let running = false;

port.on("message", (request: PGliteThreadRequest) => {
  queue.push(request);
  void drain();
});
port.postMessage({ kind: "ready" } satisfies PGliteThreadReply);

async function drain(): Promise<void> {
  if (running) return;
  running = true;
  try {
    for (;;) {
      const at = owner === null ? (queue.length > 0 ? 0 : -1) : queue.findIndex((r) => r.kind === "query" && r.connection === owner);
      if (at < 0) return;
      const [request] = queue.splice(at, 1);
      await serve(request!);
    }
  } finally {
    running = false;
  }
}

async function serve(request: PGliteThreadRequest): Promise<void> {
  try {
    switch (request.kind) {
      case "query": {
        const ends = TRANSACTION_END.test(request.text);
        try {
          const result = await statements.query(request.text, request.params);
          if (TRANSACTION_BEGIN.test(request.text)) owner = request.connection;
          if (ends) owner = null;
          return reply({ kind: "result", id: request.id, rows: result.rows, affectedRows: result.affectedRows ?? null, ...jsonFieldsOf(result.fields) });
        } catch (error) {
          // A failed COMMIT ends the transaction too (PostgreSQL rolls it back).
          if (ends) owner = null;
          throw error;
        }
      }
      case "listen": {
        await pglite.listen(request.channel, (payload) => port.postMessage({ kind: "notification", channel: request.channel, payload } satisfies PGliteThreadReply));
        return reply({ kind: "result", id: request.id, rows: [], affectedRows: null });
      }
      case "dump": {
        const bytes = new Uint8Array(await (await pglite.dumpDataDir("none")).arrayBuffer());
        return reply({ kind: "dump", id: request.id, bytes }, [bytes.buffer]);
      }
      case "close": {
        await pglite.close();
        reply({ kind: "result", id: request.id, rows: [], affectedRows: null });
        return port.close();
      }
      default:
        return assertNever(request, "request");
    }
  } catch (error) {
    reply({ kind: "error", id: request.id, error: errorFields(error) });
  }
}

const TRANSACTION_BEGIN = /^\s*(begin|start\s+transaction)\b/i;
// Not ROLLBACK TO (a savepoint): the transaction goes on.
const TRANSACTION_END = /^\s*(commit|end|abort|rollback(?!\s+(work\s+|transaction\s+)?to\b))\b/i;

/** The result's json and jsonb columns (and arrays of them), whose values this thread left as text. */
function jsonFieldsOf(fields: readonly { name: string; dataTypeID: number }[]): { jsonFields?: string[]; jsonArrayFields?: string[] } {
  // A row holds the last of the columns of one name (as PGlite's own rows do): its type decides.
  const typeOf = new Map(fields.map((f) => [f.name, f.dataTypeID]));
  const json: string[] = [];
  const arrays: string[] = [];
  for (const [name, type] of typeOf) {
    if (JSON_TYPE_IDS.includes(type)) json.push(name);
    else if (JSON_ARRAY_TYPE_IDS.includes(type)) arrays.push(name);
  }
  return { ...(json.length > 0 ? { jsonFields: json } : {}), ...(arrays.length > 0 ? { jsonArrayFields: arrays } : {}) };
}

function reply(message: PGliteThreadReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

/** What crosses to the service's thread of an error: its message and its fields (code, detail, query, params...). */
function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  const fields: Record<string, unknown> = { message: error.message };
  for (const [key, value] of Object.entries(error)) {
    if (value === undefined || typeof value === "function") continue;
    try {
      structuredClone(value);
      fields[key] = value;
    } catch {
      // Not something a message can carry: left out.
    }
  }
  return fields;
}
