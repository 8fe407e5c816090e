import { servedFileBody } from "./served-file-body";
import { z } from "@hono/zod-openapi";
import { NotFoundError } from "../domain/errors";
import { idPattern } from "../domain/ids";
import { DEFAULT_TIMEOUT_MS, MAX_REQUEST_TIMEOUT_SECONDS } from "../interfaces/command-interface";
import type { Drydock } from "../service/drydock";
import type { ApiApp, ApiContext } from "./api-env";
import { idParams } from "./params";
import { COMMAND_ID_HEADER, CommandRegistry } from "./command-registry";
import { EXEC_STREAM_HEADERS, execStream } from "./exec-stream";
import { ErrorSchema, errorResponses, ExecResultSchema, FileListSchema } from "./schemas";
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

/** The file routes are plain routes (raw bytes), declared like the lease's other routes. */
const fileAccess = rules.lease("id");
const FILES = "/v1/leases/:id/files";
const FILE = "/v1/leases/:id/files/:path{.+}";

/** The id of a raw route (no zod validator here): malformed is 404, like everywhere else. */
function leaseIdOf(c: ApiContext): string {
  const id = c.req.param("id") ?? "";
  if (!idPattern.test(id)) throw new NotFoundError("lease", id.length > 80 ? `${id.slice(0, 80)}…` : id);
  return id;
}

/** The file path as the client meant it: Hono decodes the parameter, so `..%2F` arrives as `../` and the filesystem interface refuses it. */
function filePathOf(c: ApiContext): string {
  return c.req.param("path") ?? "";
}

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
    if (isListing(c.req.valid("query").stream)) {
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

  // Raw bytes do not go through zod, so these are plain routes, added to the document below.
  app.put(FILE, access(fileAccess), async (c) => {
    const { filesystem } = await drydock.interfaces.forLease(leaseIdOf(c));
    const data = new Uint8Array(await c.req.arrayBuffer());
    await filesystem.writeFile(filePathOf(c), data);
    return c.body(null, 204);
  });

  app.get(FILE, access(fileAccess), async (c) => {
    const id = leaseIdOf(c);
    const { filesystem } = await drydock.interfaces.forLease(id);
    if (isListing(c.req.query("list"))) return c.json({ items: await filesystem.list(filePathOf(c)) }, 200);
    // Streamed: the service holds a chunk of the file at a time, whatever its size, and a client
    // that stops reading pauses the read (filesystem-interface.ts, FileRead).
    const path = filePathOf(c);
    const file = await filesystem.openFile(path);
    const headers = { "Content-Type": "application/octet-stream", "Content-Length": String(file.size) };
    // HEAD runs this route (Hono answers it as GET) and would drop the body unread, leaving the
    // read open (a helper process in the lease, blocked on its pipe): it is ended here.
    if (c.req.method === "HEAD") {
      await file.body.cancel();
      return c.body(null, 200, headers);
    }
    const connection = (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing;
    const body = servedFileBody(file.body, connection, (error) =>
      drydock.logger.warn({ requestId: c.get("requestId"), leaseId: id, path, size: file.size, reason: (error as Error)?.message ?? String(error) }, "a file read was cut short"),
    );
    return c.body(body, 200, headers);
  });

  app.get(FILES, access(fileAccess), async (c) => {
    const id = leaseIdOf(c);
    const { filesystem } = await drydock.interfaces.forLease(id);
    return c.json({ items: await filesystem.list("") }, 200);
  });

  app.delete(FILE, access(fileAccess), async (c) => {
    const id = leaseIdOf(c);
    const { filesystem } = await drydock.interfaces.forLease(id);
    await filesystem.remove(filePathOf(c));
    return c.body(null, 204);
  });

  registerFileRoutesInDocument(app);
}

function isListing(value: string | undefined): boolean {
  return value !== undefined && value !== "0" && value !== "false";
}

function registerFileRoutesInDocument(app: ApiApp): void {
  const params = idParams.extend({
    path: z.string().openapi({ param: { name: "path", in: "path" }, description: "Relative to the lease's working directory; may contain (encoded) slashes.", example: "src/main.c" }),
  });
  const bytes = { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } };
  const errors = { content: { "application/json": { schema: ErrorSchema } } };
  const fileErrors = {
    400: { description: "The path leaves the lease (path_outside_lease) or is unusable", ...errors },
    404: { description: "No such lease or file", ...errors },
    409: { description: "The lease is not active", ...errors },
  };
  app.openAPIRegistry.registerPath({
    "x-drydock-access": fileAccess,
    method: "put",
    path: "/v1/leases/{id}/files/{path}",
    summary: "Write a file (parents are created; an existing file is replaced)",
    request: { params, body: { required: true, content: bytes } },
    responses: { 204: { description: "Written" }, 413: { description: "Body too large", ...errors }, ...fileErrors },
  });
  app.openAPIRegistry.registerPath({
    "x-drydock-access": fileAccess,
    method: "get",
    path: "/v1/leases/{id}/files/{path}",
    summary: "Read a file, or with ?list=1 list a directory",
    request: { params, query: z.object({ list: z.string().optional().openapi({ example: "1" }) }) },
    responses: {
      200: {
        description: "The file's bytes, or with ?list=1 the directory's entries",
        content: { ...bytes, "application/json": { schema: FileListSchema } },
      },
      ...fileErrors,
    },
  });
  app.openAPIRegistry.registerPath({
    "x-drydock-access": fileAccess,
    method: "get",
    path: "/v1/leases/{id}/files",
    summary: "List the lease's working directory",
    request: { params: idParams },
    responses: { 200: { description: "The entries", content: { "application/json": { schema: FileListSchema } } }, ...fileErrors },
  });
  app.openAPIRegistry.registerPath({
    "x-drydock-access": fileAccess,
    method: "delete",
    path: "/v1/leases/{id}/files/{path}",
    summary: "Remove a file or a directory tree",
    request: { params },
    responses: { 204: { description: "Removed" }, ...fileErrors },
  });
}
