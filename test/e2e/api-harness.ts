import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { createApp, type AppOptions } from "../../src/api/app";
import { issueToken } from "../../src/auth/token-commands";
import { createDrydock, type Drydock, type DrydockOptions } from "../../src/service/drydock";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { runDueWork } from "../support/run-due-work";
import { waitUntil } from "../support/wait-until";

/**
 * One Drydock on a fresh test database, its API app, and helpers to call it like a client would.
 *
 * Every route but /healthz needs a bearer token. The harness issues an admin token at start and
 * sends it on every `call` and every `app.request`, unless the request names its own
 * `Authorization` header (an empty one sends none). `as(token)` calls with another token (null:
 * none); `client(owner)` issues a client token, authorized on the local-host blueprint.
 */
export interface ApiHarness extends Caller {
  drydock: Drydock;
  database: TestDatabase;
  /** The app; its `request` sends the admin token unless told otherwise (see above). */
  app: ReturnType<typeof createApp>;
  root: string;
  adminToken: string;
  /** Calls as this token (null: without a token). */
  as(token: string | null): Caller;
  /** Issues a client token for `owner`, with approved authorizations on `blueprintIds` (default: local-host). */
  client(owner: string, options?: { blueprintIds?: string[] }): Promise<ApiClient>;
  /** The id of the local-host blueprint the harness starts with. */
  localHostBlueprintId(): Promise<string>;
  /**
   * Rows in the event log once this process's steps and after-commit work have settled (a
   * release's teardown runs after its answer): a refused request must not move it.
   */
  eventCount(): Promise<number>;
  /** Runs the worker's due work until none is left (at most 50 rounds): for tests whose worker is off. */
  runDueWork(): Promise<void>;
  /**
   * Runs the due work until lease `id` has `status`, and answers the lease; fails after
   * `timeoutMs`. One pass is not enough: a request's `?wait` runs the lease's first steps itself
   * and goes on after answering, so under load a step may still be running (its item claimed,
   * not due) when the due work is looked at.
   */
  runDueWorkUntil(id: string, status: string, timeoutMs?: number): Promise<any>;
  close(): Promise<void>;
}

export interface Caller {
  call(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** Polls GET /v1/leases/{id} until `accept` says yes (or fails after `timeoutMs`). */
  pollLease(id: string, accept: (lease: any) => boolean, timeoutMs?: number): Promise<any>;
}

export interface ApiClient extends Caller {
  owner: string;
  token: string;
  tokenId: string;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

const hasHeader = (headers: Record<string, string>, name: string) => Object.keys(headers).some((h) => h.toLowerCase() === name);

/** Headers with `Authorization: Bearer <token>` unless they name one; an empty one is dropped. */
function withToken(headers: Record<string, string>, token: string | null): Record<string, string> {
  const out = { ...headers };
  for (const key of Object.keys(out)) if (key.toLowerCase() === "authorization" && out[key] === "") delete out[key];
  if (!hasHeader(headers, "authorization") && token !== null) out.Authorization = `Bearer ${token}`;
  return out;
}

/**
 * `drydockOptions`: more for the Drydock under test (extra blueprint kinds, a clock; `localHost`
 * is merged into the harness's own, so `{ slots: 1 }` keeps its root). `databaseOptions`: for
 * the test database (`onQuery` to count statements).
 */
export async function startApi(
  options: AppOptions = {},
  drydockOptions: Omit<DrydockOptions, "database"> = {},
  databaseOptions: Parameters<typeof createTestDatabase>[0] = {},
): Promise<ApiHarness> {
  const database = await createTestDatabase(databaseOptions);
  const root = await mkdtemp(path.join(tmpdir(), "drydock-api-"));
  const localHost = drydockOptions.localHost === false ? false : { root, slots: 2, ...drydockOptions.localHost };
  const drydock = await createDrydock({ database, onWorkerError: (e) => console.error(e), ...drydockOptions, localHost });
  const app = createApp(drydock, options);
  const { token: adminToken } = await issueToken(drydock.commands, { owner: "admin", role: "admin" }, { actor: "system" });

  // Tests that need the raw Response (bytes, HTML) use app.request: it sends the admin token too.
  const rawRequest = app.request.bind(app);
  app.request = ((input: string | Request | URL, init?: RequestInit, ...rest: unknown[]) => {
    if (input instanceof Request) {
      if (!input.headers.has("authorization")) input.headers.set("Authorization", `Bearer ${adminToken}`);
      return (rawRequest as any)(input, init, ...rest);
    }
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    return (rawRequest as any)(input, { ...init, headers: withToken(headers, adminToken) }, ...rest);
  }) as typeof app.request;

  const callerAs = (token: string | null): Caller => {
    const call: Caller["call"] = async (method, url, body, headers = {}) => {
      const init: RequestInit = { method, headers: withToken(headers, token) };
      if (body !== undefined) {
        init.body = typeof body === "string" || body instanceof Uint8Array ? (body as RequestInit["body"]) : JSON.stringify(body);
        if (!hasHeader(headers, "content-type")) (init.headers as Record<string, string>)["content-type"] = "application/json";
      }
      const res = await rawRequest(url, init);
      const text = await res.text();
      let parsed: unknown = undefined;
      if (res.headers.get("content-type")?.includes("application/json")) parsed = JSON.parse(text);
      return { status: res.status, headers: res.headers, body: parsed, text };
    };
    return {
      call,
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
    };
  };
  const admin = callerAs(adminToken);

  const localHostBlueprintId = async () => {
    const row = await drydock.database.db.selectFrom("blueprints").select("blueprint_id").where("kind", "=", "local-host").orderBy("blueprint_id").executeTakeFirstOrThrow();
    return row.blueprint_id;
  };

  const expectStatus = (res: ApiResponse, ok: number[], what: string) => {
    if (!ok.includes(res.status)) throw new Error(`${what}: ${res.status} ${res.text}`);
    return res.body;
  };

  return {
    drydock,
    database,
    app,
    root,
    adminToken,
    ...admin,
    as: callerAs,
    localHostBlueprintId,
    async client(owner, clientOptions = {}) {
      const issued = expectStatus(await admin.call("POST", "/v1/tokens", { owner, role: "client" }), [201], `token for ${owner}`);
      for (const blueprintId of clientOptions.blueprintIds ?? [await localHostBlueprintId()]) {
        const asked = expectStatus(await admin.call("POST", `/v1/blueprints/${blueprintId}/authorizations`, { client: owner }), [200, 201], `authorization of ${owner}`);
        if (asked.state !== "approved") expectStatus(await admin.call("POST", `/v1/authorizations/${asked.id}/approve`), [200], `approval for ${owner}`);
      }
      return { owner, token: issued.token, tokenId: issued.id, ...callerAs(issued.token) };
    },
    runDueWork: () => runDueWork(drydock),
    async runDueWorkUntil(id, status, timeoutMs = 10_000) {
      return waitUntil(
        `lease ${id} to be ${status}`,
        async () => {
          await runDueWork(drydock);
          const lease = expectStatus(await admin.call("GET", `/v1/leases/${id}`), [200], `lease ${id}`);
          return lease.status === status ? lease : undefined;
        },
        timeoutMs,
        { seen: async () => (await admin.call("GET", `/v1/leases/${id}`)).body?.status },
      );
    },
    async eventCount() {
      await drydock.notifier.flush();
      await drydock.worker.idle();
      await drydock.notifier.flush();
      const result = await sql<{ n: number | string }>`select count(*)::int as n from events`.execute(drydock.database.db);
      return Number(result.rows[0]!.n);
    },
    async close() {
      await drydock.close();
      await database.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
