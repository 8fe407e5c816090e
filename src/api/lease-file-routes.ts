import { z } from "@hono/zod-openapi";
import { DomainError, NotFoundError, ValidationError } from "../domain/errors";
import { idPattern } from "../domain/ids";
import type { FileRead, FilesystemInterface, ListPage } from "../interfaces/filesystem-interface";
import type { Drydock } from "../service/drydock";
import { rules } from "../auth/access-policy";
import type { Context } from "hono";
import type { ApiApp, ApiContext } from "./api-env";
import { idParams, queryFlag } from "./params";
import { access } from "./route-access";
import { ErrorSchema, FileListSchema } from "./schemas";
import { declaredLength } from "./body-limit";
import { servedFileBody } from "./served-file-body";
import { FileTransferSlots } from "./file-transfer-slots";

/**
 * The files of an active lease over HTTP (the `filesystem` interface): write, read (streamed),
 * list (a page at a time), remove. Plain routes, since raw bytes do not go through zod; the
 * document describes them below. Each request resolves the interfaces afresh, so a lease released
 * meanwhile is refused (409).
 */

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

const DEFAULT_LIST_LIMIT = 1000;
const MAX_LIST_LIMIT = 10_000;

/**
 * The page a listing asks for: `?limit=` entries (1 to 10,000; 1,000 by default) after the name
 * `?after=` (the previous page's `nextAfter`). A directory of a million entries, which a lease's
 * commands can make, is then read a page at a time, never whole into an answer.
 */
function listPageOf(c: ApiContext): ListPage & { limit: number } {
  const limit = c.req.query("limit");
  const after = c.req.query("after");
  if (limit !== undefined && !(/^\d{1,6}$/.test(limit) && Number(limit) >= 1 && Number(limit) <= MAX_LIST_LIMIT)) {
    throw new ValidationError(`limit: an integer from 1 to ${MAX_LIST_LIMIT}, not ${JSON.stringify(limit.slice(0, 20))}`, { field: "limit" });
  }
  if (after !== undefined && (after === "" || after.includes("/") || after.includes("\0") || Buffer.byteLength(after) > 255)) {
    throw new ValidationError("after: a name in the directory (1 to 255 bytes, no slash), as nextAfter gave it", { field: "after" });
  }
  return { limit: limit === undefined ? DEFAULT_LIST_LIMIT : Number(limit), ...(after === undefined ? {} : { after }) };
}

/** A page of the listing, and the name to ask for the next one after (null: this was the last). */
async function listing(filesystem: FilesystemInterface, path: string, page: ListPage & { limit: number }) {
  const entries = await filesystem.list(path, { ...page, limit: page.limit + 1 });
  const items = entries.slice(0, page.limit);
  return { items, nextAfter: entries.length > page.limit ? items.at(-1)!.name : null };
}

/** PUT /v1/leases/{id}/files/{path}: an upload, whose body streams to the lease (the app's body limit leaves it alone). */
export function isFileUpload(c: Context): boolean {
  return c.req.method === "PUT" && /^\/v1\/leases\/[^/]+\/files\/./.test(c.req.path);
}

/**
 * An upload's body as it arrives, at most `maxBytes` of it: a Content-Length over the limit is
 * refused before anything is read, and a body that goes over it as it streams (sent without one)
 * fails the write there, leaving the file as it was. A client that hangs up half way fails it too.
 */
function uploadOf(c: ApiContext, maxBytes: number): AsyncIterable<Uint8Array> {
  const tooLarge = () => new DomainError("payload_too_large", `body: larger than ${maxBytes} bytes, the most a file upload may be`, { limit: maxBytes });
  if ((declaredLength(c) ?? 0) > maxBytes) throw tooLarge();
  const body = c.req.raw.body;
  return (async function* () {
    if (!body) return;
    let seen = 0;
    const reader = body.getReader();
    try {
      for (;;) {
        let next: Awaited<ReturnType<typeof reader.read>>;
        try {
          next = await reader.read();
        } catch {
          throw new ValidationError("body: the upload ended before all of it arrived", { field: "body" });
        }
        if (next.done) return;
        seen += next.value.length;
        if (seen > maxBytes) throw tooLarge();
        yield next.value;
      }
    } finally {
      reader.releaseLock();
    }
  })();
}

export function registerLeaseFileRoutes(app: ApiApp, drydock: Drydock, options: { maxFileBytes: number }): void {
  // Per process (per app), as the command registry.
  const transfers = new FileTransferSlots();
  // Raw bytes do not go through zod, so these are plain routes, added to the document below.
  app.put(FILE, access(fileAccess), async (c) => {
    // A Content-Length over the limit is refused first, before the lease is looked up.
    const upload = uploadOf(c, options.maxFileBytes);
    const id = leaseIdOf(c);
    const { filesystem, commandLimit } = await drydock.interfaces.forLease(id);
    const giveBack = transfers.take(id, commandLimit);
    try {
      await filesystem.writeFile(filePathOf(c), upload);
    } finally {
      giveBack();
    }
    return c.body(null, 204);
  });

  app.get(FILE, access(fileAccess), async (c) => {
    const id = leaseIdOf(c);
    const { filesystem, commandLimit } = await drydock.interfaces.forLease(id);
    if (queryFlag(c.req.query("list"))) return c.json(await listing(filesystem, filePathOf(c), listPageOf(c)), 200);
    // Streamed: the service holds a chunk of the file at a time, whatever its size, and a client
    // that stops reading pauses the read (filesystem-interface.ts, FileRead).
    const path = filePathOf(c);
    const giveBack = transfers.take(id, commandLimit);
    let file: FileRead;
    try {
      file = await filesystem.openFile(path);
    } catch (error) {
      giveBack();
      throw error;
    }
    const headers = { "Content-Type": "application/octet-stream", "Content-Length": String(file.size) };
    // HEAD runs this route (Hono answers it as GET) and would drop the body unread, leaving the
    // read open (a helper process in the lease, blocked on its pipe): it is ended here.
    if (c.req.method === "HEAD") {
      await file.body.cancel().finally(giveBack);
      return c.body(null, 200, headers);
    }
    const connection = (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing;
    const body = servedFileBody(file.body, connection, {
      cut: (error) =>
        drydock.logger.warn({ requestId: c.get("requestId"), leaseId: id, path, size: file.size, reason: (error as Error)?.message ?? String(error) }, "a file read was cut short"),
      ended: giveBack,
    });
    return c.body(body, 200, headers);
  });

  app.get(FILES, access(fileAccess), async (c) => {
    const id = leaseIdOf(c);
    const { filesystem } = await drydock.interfaces.forLease(id);
    return c.json(await listing(filesystem, "", listPageOf(c)), 200);
  });

  app.delete(FILE, access(fileAccess), async (c) => {
    const id = leaseIdOf(c);
    const { filesystem } = await drydock.interfaces.forLease(id);
    await filesystem.remove(filePathOf(c));
    return c.body(null, 204);
  });

  registerFileRoutesInDocument(app);
}

const pageQuery = {
  limit: z.string().optional().openapi({ description: `Entries on the page, 1 to ${MAX_LIST_LIMIT} (default ${DEFAULT_LIST_LIMIT})`, example: "100" }),
  after: z.string().optional().openapi({ description: "The name the page starts after: the previous page's nextAfter", example: "build.log" }),
};

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
    summary: "Write a file (parents are created; an existing file is replaced once all of it arrived)",
    description: "The body streams into the lease as it arrives, with or without a Content-Length, up to the service's file limit (DRYDOCK_MAX_FILE_BYTES, 1 GiB by default).",
    request: { params, body: { required: true, content: bytes } },
    responses: { 204: { description: "Written" }, 413: { description: "Larger than the service's file limit", ...errors }, ...fileErrors },
  });
  app.openAPIRegistry.registerPath({
    "x-drydock-access": fileAccess,
    method: "get",
    path: "/v1/leases/{id}/files/{path}",
    summary: "Read a file, or with ?list=1 list a directory",
    request: { params, query: z.object({ list: z.string().optional().openapi({ example: "1" }), ...pageQuery }) },
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
    request: { params: idParams, query: z.object(pageQuery) },
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
