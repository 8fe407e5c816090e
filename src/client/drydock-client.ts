import { apiErrorOf, filePath, Http, ndjsonLines, segment, type CallOptions, type HttpOptions } from "./http";
import type * as W from "./wire-types";

/** The header that carries a running command's id (src/api/command-registry.ts). */
const COMMAND_ID_HEADER = "drydock-command-id";

/** A command whose output streams while it runs. */
export interface ExecStream {
  /** The command's id, for cancelCommand (null if the service did not send it). */
  commandId: string | null;
  /** Its output as it comes, then one `exit` line (or an `error` line if it could not finish). */
  lines: AsyncGenerator<W.ExecStreamLine>;
}

/** `/v1/leases/ID/http/PATH`: the path's own segments and query are kept as given. */
function httpPath(leaseId: string, path: string): string {
  return `/v1/leases/${segment(leaseId)}/http/${path.replace(/^\/+/, "")}`;
}

/**
 * A typed client of Drydock's v1 HTTP API, for programs (CI systems, scripts) and for the
 * `drydock` CLI, its first user. Request and response types come from the routes' own zod
 * schemas (wire-types.ts). Every error the API answers with is thrown as a DrydockError carrying
 * its status, code, message and details.
 *
 *   const drydock = new DrydockClient({ url: "http://127.0.0.1:8080", token: process.env.DRYDOCK_TOKEN });
 *   const lease = await drydock.requestLease({ resourceType: "host" }, { wait: 60 });
 *   const result = await drydock.exec(lease.id, { argv: ["make", "test"] });
 *   await drydock.releaseLease(lease.id);
 */
export class DrydockClient {
  readonly #http: Http;

  constructor(options: HttpOptions) {
    this.#http = new Http(options);
  }

  /** The service's URL, without a trailing slash. */
  get url(): string {
    return this.#http.baseUrl;
  }

  // Leases

  /**
   * Asks for a lease. Without `wait` it answers at once (status pending); with `wait` (seconds, at
   * most 300) once the lease is active, has ended, or the wait is over. `cancelOnDisconnect`: the
   * service releases the lease if this request goes away (aborted) before it is active.
   */
  requestLease(request: W.LeaseRequest, options: CallOptions & { wait?: number; cancelOnDisconnect?: boolean } = {}): Promise<W.Lease> {
    const { wait, cancelOnDisconnect, ...call } = options;
    return this.#http.json("POST", "/v1/leases", { wait, cancelOnDisconnect: cancelOnDisconnect ? 1 : undefined }, request, call);
  }

  /** A lease; with `wait`, long-polls until it is active or ended; with `asOf`, as it was then. */
  getLease(id: string, query: W.GetLeaseQuery = {}, options: CallOptions = {}): Promise<W.Lease> {
    return this.#http.json("GET", `/v1/leases/${segment(id)}`, query, undefined, options);
  }

  /** A page of leases, newest first (a client sees its own). */
  listLeases(query: W.LeaseQuery = {}, options: CallOptions = {}): Promise<W.LeasePage> {
    return this.#http.json("GET", "/v1/leases", query, undefined, options);
  }

  /** The lease's events, in order. */
  leaseEvents(id: string, options: CallOptions = {}): Promise<W.EventList> {
    return this.#http.json("GET", `/v1/leases/${segment(id)}/events`, undefined, undefined, options);
  }

  /** Why the lease waited: its timeline, every allocation attempt and its candidates. */
  explainLease(id: string, options: CallOptions = {}): Promise<W.LeaseExplanation> {
    return this.#http.json("GET", `/v1/leases/${segment(id)}/explain`, undefined, undefined, options);
  }

  /** The lease now expires `ttlSeconds` from now. */
  /** Extends the lease; `capped` says when its blueprint's cap (maxLeaseSeconds) cut the renewal. */
  renewLease(id: string, ttlSeconds: W.LeaseRenewal["ttlSeconds"], options: CallOptions = {}): Promise<W.RenewedLease> {
    return this.#http.json("POST", `/v1/leases/${segment(id)}/renew`, undefined, { ttlSeconds }, options);
  }

  /** Releases the lease (a second release is refused: 409 transition_refused). */
  releaseLease(id: string, options: CallOptions = {}): Promise<W.Lease> {
    return this.#http.json("POST", `/v1/leases/${segment(id)}/release`, undefined, {}, options);
  }

  // Commands

  /** Runs a command where the lease lives and answers once it has ended, whatever its exit code. */
  exec(leaseId: string, request: W.ExecRequest, options: CallOptions = {}): Promise<W.ExecResult> {
    return this.#http.json("POST", `/v1/leases/${segment(leaseId)}/commands`, undefined, request, options);
  }

  /**
   * Runs a command and streams its output while it runs. Aborting `signal` (or not reading to
   * the end and aborting) ends the command on the host; so does cancelCommand with the id.
   */
  async execStream(leaseId: string, request: W.ExecRequest, options: CallOptions = {}): Promise<ExecStream> {
    const response = await this.#http.send(
      "POST",
      `/v1/leases/${segment(leaseId)}/commands`,
      { stream: 1 },
      { type: "application/json", data: JSON.stringify(request) },
      options,
    );
    return { commandId: response.headers.get(COMMAND_ID_HEADER), lines: ndjsonLines<W.ExecStreamLine>(response) };
  }

  /** Kills a running command on the host; answers once it has ended (404 if it already had). */
  cancelCommand(leaseId: string, commandId: string, options: CallOptions = {}): Promise<W.CommandCancelled> {
    return this.#http.json("DELETE", `/v1/leases/${segment(leaseId)}/commands/${segment(commandId)}`, undefined, undefined, options);
  }

  // Files, relative to the lease's directory

  /**
   * Writes a file (parents are made; an existing file is replaced once all of it arrived). A
   * stream is sent as it is read, up to the service's file limit (1 GiB by default).
   */
  async writeFile(leaseId: string, path: string, data: Uint8Array | string | ReadableStream<Uint8Array>, options: CallOptions = {}): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    await this.#http.send("PUT", `/v1/leases/${segment(leaseId)}/files/${filePath(path)}`, undefined, { type: "application/octet-stream", data: bytes }, options);
  }

  /**
   * A file as it arrives: its size, and its bytes as a stream, for a file of any size (readFile
   * holds the whole file in memory). The stream fails if the transfer ends short of the size (the
   * file shrank while the service read it, or the connection broke).
   */
  async openFile(leaseId: string, path: string, options: CallOptions = {}): Promise<{ size: number; body: ReadableStream<Uint8Array> }> {
    const response = await this.#http.send("GET", `/v1/leases/${segment(leaseId)}/files/${filePath(path)}`, undefined, undefined, options);
    return { size: Number(response.headers.get("content-length")), body: response.body ?? new ReadableStream({ start: (c) => c.close() }) };
  }

  /** A file's bytes. */
  async readFile(leaseId: string, path: string, options: CallOptions = {}): Promise<Uint8Array> {
    const response = await this.#http.send("GET", `/v1/leases/${segment(leaseId)}/files/${filePath(path)}`, undefined, undefined, options);
    return new Uint8Array(await response.arrayBuffer());
  }

  /**
   * A page of a directory's entries ("" or omitted: the lease's directory), sorted by name: up to
   * `limit` (1,000 unless given, at most 10,000) after the name `after`. `nextAfter` is where the
   * next page starts; null on the last one.
   */
  listFiles(leaseId: string, path = "", options: CallOptions & { after?: string; limit?: number } = {}): Promise<W.FileList> {
    const { after, limit, ...call } = options;
    const page = { ...(after === undefined ? {} : { after }), ...(limit === undefined ? {} : { limit }) };
    if (path === "") return this.#http.json("GET", `/v1/leases/${segment(leaseId)}/files`, page, undefined, call);
    return this.#http.json("GET", `/v1/leases/${segment(leaseId)}/files/${filePath(path)}`, { list: 1, ...page }, undefined, call);
  }

  /** Removes a file or a directory tree. */
  async removeFile(leaseId: string, path: string, options: CallOptions = {}): Promise<void> {
    await this.#http.send("DELETE", `/v1/leases/${segment(leaseId)}/files/${filePath(path)}`, undefined, undefined, options);
  }

  // A web server in the lease (httpd), proxied at /v1/leases/{id}/http/

  /** Starts the lease's web server: `argv` is to listen on `port` (127.0.0.1 is enough) where the lease lives. */
  startHttpd(leaseId: string, request: W.HttpdStart, options: CallOptions = {}): Promise<W.HttpdStatus> {
    return this.#http.json("POST", `/v1/leases/${segment(leaseId)}/httpd`, undefined, request, options);
  }

  /** The lease's web server: running, exited or stopped, its URI, the tail of its output. */
  httpdStatus(leaseId: string, options: CallOptions = {}): Promise<W.HttpdStatus> {
    return this.#http.json("GET", `/v1/leases/${segment(leaseId)}/httpd`, undefined, undefined, options);
  }

  /** Stops it, waits for it to end, and starts it again (with `change` over what it ran with). */
  restartHttpd(leaseId: string, change: W.HttpdRestart = {}, options: CallOptions = {}): Promise<W.HttpdStatus> {
    return this.#http.json("POST", `/v1/leases/${segment(leaseId)}/httpd/restart`, undefined, change, options);
  }

  stopHttpd(leaseId: string, options: CallOptions = {}): Promise<W.HttpdStatus> {
    return this.#http.json("DELETE", `/v1/leases/${segment(leaseId)}/httpd`, undefined, undefined, options);
  }

  /** The URL of `path` (with its query, if any) on the lease's web server, through Drydock. */
  httpUrl(leaseId: string, path = ""): string {
    return `${this.url}${httpPath(leaseId, path)}`;
  }

  /**
   * A request to the lease's web server, through Drydock, with this client's token (which the
   * server never sees). Whatever the server answers is returned as it is, 404s and 500s included;
   * an answer of Drydock's own (the lease is not yours, no server runs) is thrown as a DrydockError.
   * A proxied answer is known by the sandbox policy the proxy adds to every one.
   */
  async http(leaseId: string, path = "", init: { method?: string; headers?: Record<string, string>; body?: Uint8Array | string } & CallOptions = {}): Promise<Response> {
    const { method = "GET", ...rest } = init;
    const response = await this.#http.raw(method, httpPath(leaseId, path), rest);
    if (!/^sandbox\b/.test(response.headers.get("content-security-policy") ?? "") && !response.ok) throw await apiErrorOf(response);
    return response;
  }

  // Resources and blueprints

  listResources(query: W.ResourceQuery = {}, options: CallOptions = {}): Promise<W.ResourcePage> {
    return this.#http.json("GET", "/v1/resources", query, undefined, options);
  }

  getResource(id: string, options: CallOptions = {}): Promise<W.Resource> {
    return this.#http.json("GET", `/v1/resources/${segment(id)}`, undefined, undefined, options);
  }

  /** (admin) The resource's events, in order. */
  resourceEvents(id: string, options: CallOptions = {}): Promise<W.EventList> {
    return this.#http.json("GET", `/v1/resources/${segment(id)}/events`, undefined, undefined, options);
  }

  /** (admin) Releases a resource: its leases are let go and it is destroyed. */
  releaseResource(id: string, body: W.ResourceRelease = {}, options: CallOptions = {}): Promise<W.Resource> {
    return this.#http.json("POST", `/v1/resources/${segment(id)}/release`, undefined, body, options);
  }

  /** (admin) Puts a resource on hold: no new lease, not destroyed, until released or `untilSeconds` pass. */
  holdResource(id: string, body: W.ResourceHold, options: CallOptions = {}): Promise<W.Resource> {
    return this.#http.json("POST", `/v1/resources/${segment(id)}/hold`, undefined, body, options);
  }

  /** (admin) Releases a resource's hold (409 if it has none). */
  releaseResourceHold(id: string, query: { reason?: string } = {}, options: CallOptions = {}): Promise<W.Resource> {
    return this.#http.json("DELETE", `/v1/resources/${segment(id)}/hold`, query, undefined, options);
  }

  listBlueprints(query: W.BlueprintQuery = {}, options: CallOptions = {}): Promise<W.BlueprintPage> {
    return this.#http.json("GET", "/v1/blueprints", query, undefined, options);
  }

  getBlueprint(id: string, options: CallOptions = {}): Promise<W.Blueprint> {
    return this.#http.json("GET", `/v1/blueprints/${segment(id)}`, undefined, undefined, options);
  }

  /** (admin) */
  createBlueprint(draft: W.BlueprintDraft, options: CallOptions = {}): Promise<W.Blueprint> {
    return this.#http.json("POST", "/v1/blueprints", undefined, draft, options);
  }

  /** (admin) */
  updateBlueprint(id: string, change: W.BlueprintChange, options: CallOptions = {}): Promise<W.Blueprint> {
    return this.#http.json("PATCH", `/v1/blueprints/${segment(id)}`, undefined, change, options);
  }

  // Tokens (admin)

  /** Issues a token; its secret (`token`) is in this answer only. */
  issueToken(request: W.TokenRequest, options: CallOptions = {}): Promise<W.IssuedToken> {
    return this.#http.json("POST", "/v1/tokens", undefined, request, options);
  }

  listTokens(query: W.TokenQuery = {}, options: CallOptions = {}): Promise<W.TokenPage> {
    return this.#http.json("GET", "/v1/tokens", query, undefined, options);
  }

  /** Changes the token's lease quota (null: none); its waiting leases carry the new one at once. */
  changeTokenQuota(id: string, change: W.TokenQuotaChange, options: CallOptions = {}): Promise<W.TokenQuotaChanged> {
    return this.#http.json("PATCH", `/v1/tokens/${segment(id)}`, undefined, change, options);
  }

  revokeToken(id: string, body: W.TokenRevocation = {}, options: CallOptions = {}): Promise<W.Token> {
    return this.#http.json("DELETE", `/v1/tokens/${segment(id)}`, undefined, body, options);
  }

  // Blueprint authorizations

  /** Asks to use a blueprint, for this token's client (or, as an admin, for `client`). */
  requestAuthorization(blueprintId: string, body: W.AuthorizationRequest = {}, options: CallOptions = {}): Promise<W.Authorization> {
    return this.#http.json("POST", `/v1/blueprints/${segment(blueprintId)}/authorizations`, undefined, body, options);
  }

  listAuthorizations(query: W.AuthorizationQuery = {}, options: CallOptions = {}): Promise<W.AuthorizationPage> {
    return this.#http.json("GET", "/v1/authorizations", query, undefined, options);
  }

  /** (admin) */
  approveAuthorization(id: string, options: CallOptions = {}): Promise<W.Authorization> {
    return this.#http.json("POST", `/v1/authorizations/${segment(id)}/approve`, undefined, undefined, options);
  }

  /** (admin) */
  declineAuthorization(id: string, body: W.AuthorizationDecline = {}, options: CallOptions = {}): Promise<W.Authorization> {
    return this.#http.json("POST", `/v1/authorizations/${segment(id)}/decline`, undefined, body, options);
  }

  /** (admin) With `releaseLeases`, the client's live leases on the blueprint are released too. */
  revokeAuthorization(id: string, body: W.AuthorizationRevocation = {}, options: CallOptions = {}): Promise<W.RevokedAuthorization> {
    return this.#http.json("POST", `/v1/authorizations/${segment(id)}/revoke`, undefined, body, options);
  }

  // The log (admin)

  /** Events of every stream, in commit order, after the cursor `after`. */
  listEvents(query: W.EventQuery = {}, options: CallOptions = {}): Promise<W.EventPage> {
    return this.#http.json("GET", "/v1/events", query, undefined, options);
  }
}
