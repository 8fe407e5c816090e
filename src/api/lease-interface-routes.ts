import { z } from "@hono/zod-openapi";
import { DEFAULT_TIMEOUT_MS, MAX_REQUEST_TIMEOUT_SECONDS } from "../interfaces/command-interface";
import type { Drydock } from "../service/drydock";
import type { ApiApp } from "./api-env";
import { idParams, queryFlag } from "./params";
import { COMMAND_ID_HEADER, CommandRegistry } from "./command-registry";
import { EXEC_STREAM_HEADERS, execStream } from "./exec-stream";
import { errorResponses, ExecResultSchema } from "./schemas";
import { rules } from "../auth/access-policy";
import { access, defineRoute } from "./route-access";

/**
 * The interfaces of an active lease over HTTP: run a command, read and write files.
 * Each request resolves the interfaces afresh, so a lease released meanwhile is refused (409).
 *
 * A running command has an id (the Drydock-Command-Id header) by which it can be cancelled, and
 * a client that closes its connection before the answer is complete cancels its command: a
 * command nobody waits for is killed, not left to its timeout (command-registry.ts).
 */

const KIB = 1024;
const MIB = 1024 * KIB;

const ExecRequestSchema = z
  .strictObject({
    argv: z
      .array(z.string().max(64 * KIB))
      .min(1)
      .max(256)
      .refine((argv) => argv[0] !== "", { message: "argv[0] must not be empty", path: [0] })
      .openapi({ example: ["uptime"] }),
    cwd: z.string().min(1).max(4096).optional().openapi({ description: "Relative to the lease's working directory." }),
    env: z
      .record(z.string().max(256), z.string().max(64 * KIB))
      .refine((env) => Object.keys(env).length <= 128, "at most 128 variables")
      .optional(),
    stdin: z.string().max(MIB).optional(),
    timeoutSeconds: z
      .number()
      .min(0.1)
      .max(MAX_REQUEST_TIMEOUT_SECONDS)
      .optional()
      .openapi({ description: `The command's process group is killed (TERM, then KILL) after this long. Default ${DEFAULT_TIMEOUT_MS / 1000} s, at most ${MAX_REQUEST_TIMEOUT_SECONDS} s.` }),
    shell: z.boolean().optional().openapi({ description: "Run argv[0] through /bin/sh -c, where the blueprint allows shells." }),
  })
  .openapi("ExecRequest");

export const execRoute = defineRoute({
  access: rules.lease("id"),
  rateLimit: "commands",
  method: "post",
  path: "/v1/leases/{id}/commands",
  summary: "Run a command where the lease lives",
  description:
    `The response carries the command's id in the ${COMMAND_ID_HEADER} header (with ?stream=1, as soon as the stream starts), for DELETE /v1/leases/{id}/commands/{commandId}. ` +
    "A client that closes the connection before the response is complete cancels the command: it is killed on the host.",
  request: {
    params: idParams,
    query: z.object({
      stream: z.enum(["0", "1", "true", "false"]).optional().openapi({ description: "1: stream the output as application/x-ndjson lines while the command runs", example: "1" }),
    }),
    body: { required: true, content: { "application/json": { schema: ExecRequestSchema } } },
  },
  responses: {
    200: {
      description:
        'The command ran (whatever its exit code). With ?stream=1: one JSON object per line, {"stream":"stdout"|"stderr","data":"…"} as output arrives, then {"exit":{…the result without stdout and stderr}} or {"error":{code,message}}.',
      headers: z.object({ [COMMAND_ID_HEADER]: z.string().openapi({ description: "The command's id (this process only)", example: "cm_5f0c8e2a9b7d4c1e3f6a8b0d" }) }),
      content: { "application/json": { schema: ExecResultSchema }, "application/x-ndjson": { schema: z.string() } },
    },
    ...errorResponses(400, 404, 409, 413, 503),
  },
});

const CancelResultSchema = z
  .object({
    id: z.string(),
    leaseId: z.string(),
    ended: z.boolean().openapi({ description: "Whether the command had ended when this answered (it is given up to 15 s)" }),
  })
  .openapi("CommandCancelled");

export const cancelRoute = defineRoute({
  access: rules.lease("id"),
  method: "delete",
  path: "/v1/leases/{id}/commands/{commandId}",
  summary: "Cancel a running command: kill it on the host",
  description:
    `The command's id comes from the ${COMMAND_ID_HEADER} header of POST /v1/leases/{id}/commands. Its process group is ended as its timeout would end it (TERM, then KILL); ` +
    "the answer comes once it has ended, and the command's own response reports cancelled: true. Commands are known only to the API process that runs them: " +
    "behind a load balancer, a DELETE that reaches another process answers 404.",
  request: {
    params: idParams.extend({ commandId: z.string().openapi({ param: { name: "commandId", in: "path" }, example: "cm_5f0c8e2a9b7d4c1e3f6a8b0d" }) }),
  },
  responses: {
    200: { description: "Cancelled", content: { "application/json": { schema: CancelResultSchema } } },
    ...errorResponses(404),
  },
});

export function registerLeaseInterfaceRoutes(app: ApiApp, drydock: Drydock): void {
  // Per process (per app): see command-registry.ts.
  const commands = new CommandRegistry();

  app.openapi(execRoute, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const { command: lease, commandLimit } = await drydock.interfaces.forLease(id);
    const command = commands.prepare(id, lease, commandLimit, c.req.raw.signal);
    const options = {
      ...(body.cwd !== undefined ? { cwd: body.cwd } : {}),
      ...(body.env !== undefined ? { env: body.env } : {}),
      ...(body.stdin !== undefined ? { stdin: body.stdin } : {}),
      ...(body.timeoutSeconds !== undefined ? { timeoutMs: Math.max(1, Math.round(body.timeoutSeconds * 1000)) } : {}),
      ...(body.shell !== undefined ? { shell: body.shell } : {}),
    };
    if (queryFlag(c.req.valid("query").stream)) {
      // The route's typing knows only the JSON body; the stream is the same 200 as x-ndjson.
      const stream = await execStream(command, body.argv, options, {
        onClientGone: () => command.cancel(),
        onInternalError: (err) => drydock.logger.error({ requestId: c.get("requestId"), leaseId: id, err }, "streamed command failed"),
      });
      return c.body(stream, 200, { ...EXEC_STREAM_HEADERS, [COMMAND_ID_HEADER]: command.id }) as never;
    }
    const result = await command.exec(body.argv, options);
    return c.json(result, 200, { [COMMAND_ID_HEADER]: command.id });
  });

  app.openapi(cancelRoute, async (c) => {
    const { id, commandId } = c.req.valid("param");
    return c.json(await commands.cancel(id, commandId), 200);
  });
}
