/**
 * What the typed client sends and receives, derived from the route definitions themselves (the
 * zod schemas the routes validate requests with and document responses with), so the client
 * cannot drift from the API: change a schema and the client's types change with it.
 *
 * Type-only imports: nothing here exists at run time, so the client loads neither zod nor the
 * routes (nor the database code behind them).
 */
import type { z } from "@hono/zod-openapi";
import type { approveRoute, declineRoute, listRoute as listAuthorizationsRoute, requestRoute, revokeRoute as revokeAuthorizationRoute } from "../api/authorization-routes";
import type { createRouteDef, listRoute as listBlueprintsRoute, patchRoute } from "../api/blueprint-routes";
import type { DomainErrorCode } from "../domain/errors";
import type { listRoute as listEventsRoute } from "../api/event-routes";
import type { explainRoute } from "../api/lease-explain-route";
import type { cancelRoute, execRoute } from "../api/lease-interface-routes";
import type { httpdStatusRoute, restartHttpdRoute, startHttpdRoute } from "../api/lease-httpd-routes";
import type { createLease, getLeaseRoute, leaseEventsRoute, listLeasesRoute, renewLeaseRoute } from "../api/lease-routes";
import type { holdRoute as holdResourceRoute, listRoute as listResourcesRoute, releaseRoute as releaseResourceRoute } from "../api/resource-routes";
import type { BlueprintSchema, ExecResultSchema, FileListSchema, LeaseSchema, ResourceSchema } from "../api/schemas";
import type { changeQuotaRoute, issueRoute, listRoute as listTokensRoute, revokeRoute as revokeTokenRoute, TokenSchema } from "../api/token-routes";

/** The JSON body a route accepts, as a caller writes it (before defaults). */
type JsonBodyOf<R> = R extends { request: { body: { content: { "application/json": { schema: infer S extends z.ZodType } } } } } ? z.input<S> : never;
/** A route's query parameters; all optional for a caller (the route fills in its defaults). */
type QueryOf<R> = R extends { request: { query: infer S extends z.ZodType } } ? Partial<z.output<S>> : never;
/** The JSON a route answers with this status. */
type JsonResponseOf<R, Status extends number> = R extends { responses: { [K in Status]: { content: { "application/json": { schema: infer S extends z.ZodType } } } } } ? z.output<S> : never;

export type Lease = z.output<typeof LeaseSchema>;
export type LeaseRequest = Omit<JsonBodyOf<typeof createLease>, "cancelOnDisconnect">;
export type LeaseQuery = QueryOf<typeof listLeasesRoute>;
export type LeasePage = JsonResponseOf<typeof listLeasesRoute, 200>;
export type GetLeaseQuery = Omit<QueryOf<typeof getLeaseRoute>, "cancelOnDisconnect">;
export type LeaseRenewal = JsonBodyOf<typeof renewLeaseRoute>;
/** A renewal's answer: the lease, and `capped` when its blueprint's maxLeaseSeconds cut the renewal. */
export type RenewedLease = JsonResponseOf<typeof renewLeaseRoute, 200>;
export type EventList = JsonResponseOf<typeof leaseEventsRoute, 200>;
export type StoredEvent = EventList["items"][number];
export type LeaseExplanation = JsonResponseOf<typeof explainRoute, 200>;

export type ExecRequest = JsonBodyOf<typeof execRoute>;
export type ExecResult = z.output<typeof ExecResultSchema>;
/** The last line of a streamed command: its result without the output, which came before it. */
export type ExecExit = Omit<ExecResult, "stdout" | "stderr">;
/** One line of a streamed command (POST …/commands?stream=1, application/x-ndjson). */
export type ExecStreamLine = { stream: "stdout" | "stderr"; data: string } | { exit: ExecExit } | { error: { code: ApiErrorCode; message: string } };
export type CommandCancelled = JsonResponseOf<typeof cancelRoute, 200>;
export type FileList = z.output<typeof FileListSchema>;

export type HttpdStart = JsonBodyOf<typeof startHttpdRoute>;
export type HttpdRestart = JsonBodyOf<typeof restartHttpdRoute>;
export type HttpdStatus = JsonResponseOf<typeof httpdStatusRoute, 200>;

export type Resource = z.output<typeof ResourceSchema>;
export type ResourceQuery = QueryOf<typeof listResourcesRoute>;
export type ResourcePage = JsonResponseOf<typeof listResourcesRoute, 200>;
export type ResourceRelease = JsonBodyOf<typeof releaseResourceRoute>;
export type ResourceHold = JsonBodyOf<typeof holdResourceRoute>;

export type Blueprint = z.output<typeof BlueprintSchema>;
export type BlueprintDraft = JsonBodyOf<typeof createRouteDef>;
export type BlueprintChange = JsonBodyOf<typeof patchRoute>;
export type BlueprintQuery = QueryOf<typeof listBlueprintsRoute>;
export type BlueprintPage = JsonResponseOf<typeof listBlueprintsRoute, 200>;

export type Token = z.output<typeof TokenSchema>;
export type TokenRequest = JsonBodyOf<typeof issueRoute>;
export type IssuedToken = JsonResponseOf<typeof issueRoute, 201>;
export type TokenQuery = QueryOf<typeof listTokensRoute>;
export type TokenPage = JsonResponseOf<typeof listTokensRoute, 200>;
export type TokenRevocation = JsonBodyOf<typeof revokeTokenRoute>;
export type TokenQuotaChange = JsonBodyOf<typeof changeQuotaRoute>;
export type TokenQuotaChanged = JsonResponseOf<typeof changeQuotaRoute, 200>;

export type Authorization = JsonResponseOf<typeof approveRoute, 200>;
export type AuthorizationRequest = JsonBodyOf<typeof requestRoute>;
export type AuthorizationQuery = QueryOf<typeof listAuthorizationsRoute>;
export type AuthorizationPage = JsonResponseOf<typeof listAuthorizationsRoute, 200>;
export type AuthorizationDecline = JsonBodyOf<typeof declineRoute>;
export type AuthorizationRevocation = JsonBodyOf<typeof revokeAuthorizationRoute>;
export type RevokedAuthorization = JsonResponseOf<typeof revokeAuthorizationRoute, 200>;

export type EventQuery = QueryOf<typeof listEventsRoute>;
export type EventPage = JsonResponseOf<typeof listEventsRoute, 200>;

/**
 * The codes an error response carries (src/api/error-handler.ts): the domain's, and those of
 * errors Hono raises itself; `internal` for a 500. A response that is not the API's JSON error (a
 * proxy's page) gets `http_error`.
 */
export type ApiErrorCode = DomainErrorCode | "unsupported_media_type" | "http_error" | "internal";
