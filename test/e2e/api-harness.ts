import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { createApp, type AppOptions } from "../../src/api/app";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

/** One Drydock on a fresh test database, its API app, and helpers to call it like a client would. */
export interface ApiHarness {
  drydock: Drydock;
  database: TestDatabase;
  app: ReturnType<typeof createApp>;
  root: string;
  call(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** Rows in the event log: a refused request must not move it. */
  eventCount(): Promise<number>;
  /** Polls GET /v1/leases/{id} until the lease has `status` (or fails after `timeoutMs`). */
  pollLease(id: string, accept: (lease: any) => boolean, timeoutMs?: number): Promise<any>;
  close(): Promise<void>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export async function startApi(options: AppOptions = {}): Promise<ApiHarness> {
  const database = await createTestDatabase();
  const root = await mkdtemp(path.join(tmpdir(), "drydock-api-"));
  const drydock = await createDrydock({ database, localHost: { root, slots: 2 }, onWorkerError: (e) => console.error(e) });
  const app = createApp(drydock, options);

  const call: ApiHarness["call"] = async (method, url, body, headers = {}) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === "string" || body instanceof Uint8Array ? (body as RequestInit["body"]) : JSON.stringify(body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
        (init.headers as Record<string, string>)["content-type"] = "application/json";
      }
    }
    const res = await app.request(url, init);
    const text = await res.text();
    let parsed: unknown = undefined;
    if (res.headers.get("content-type")?.includes("application/json")) parsed = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: parsed, text };
  };

  return {
    drydock,
    database,
    app,
    root,
    call,
    async eventCount() {
      const result = await sql<{ n: number | string }>`select count(*)::int as n from events`.execute(drydock.database.db);
      return Number(result.rows[0]!.n);
    },
    async pollLease(id, accept, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const res = await call("GET", `/v1/leases/${id}`);
        if (res.status !== 200) throw new Error(`GET lease ${id}: ${res.status} ${res.text}`);
        if (accept(res.body)) return res.body;
        if (Date.now() > deadline) throw new Error(`lease ${id} never got there: ${res.text}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      await drydock.close();
      await database.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
