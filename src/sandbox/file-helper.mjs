// The files API's worker inside a lease's sandbox: `node file-helper.mjs serve <root>` answers a
// lease's small operations over its stdin and stdout for as long as it is kept (see serve below);
// `node file-helper.mjs read|write <root> <path>` streams one large file out or in.
//
// Plain JavaScript with no imports but Node's own, because it runs inside the sandbox where
// nothing of the project but this file is mounted. It runs as the lease's unprivileged user, in
// a mount namespace that shows the lease's directory (read-write) and the read-only system
// paths, nothing else. So the kernel enforces the boundary: a symlink, a swapped directory or a
// lost rename race can lead it only to what a command of the same lease could reach itself.
// The checks below (no symlinks on the way, the file belongs to the lease's user) keep the API's
// answers strict on top of that.
//
// Protocol of one op: read (the file's size and a newline, then its bytes, to stdout), write
// (framed bytes from stdin: see contentFrames). Exit 0 on success; exit 3 with {"code","message"}
// on stderr for an error the client caused.
import { constants } from "node:fs";
import { lstat, mkdir, open, readdir, rename, rm, unlink } from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";

class ClientError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const [op, root, rel = "."] = process.argv.slice(2);
const uid = process.getuid();

/** What an op works on: the path as the client gave it (for messages), and its components. */
function targetOf(rel) {
  return { rel, segments: rel.split("/").filter((s) => s !== "" && s !== ".") };
}

async function walk({ rel, segments }) {
  // The textual checks (no `..`, no absolute path) were made by the service before it came here.
  let current = root;
  const rootInfo = await lstat(root);
  if (!rootInfo.isDirectory()) throw new ClientError("path_outside_lease", "the lease directory is not a directory");
  for (const segment of segments) {
    current = path.join(current, segment);
    const info = await lstat(current).catch((error) => {
      if (error.code === "ENOENT" || error.code === "ENOTDIR") return null;
      throw error;
    });
    if (!info) break;
    if (info.isSymbolicLink()) throw new ClientError("path_outside_lease", `${rel}: symlinks are not followed`);
  }
  return path.join(root, ...segments);
}

function owned(info, rel) {
  // A file the lease's user does not own was put there by someone else (a hard link planted
  // from outside): never served.
  if (info.uid !== uid) throw new ClientError("path_outside_lease", `${rel}: not owned by the lease`);
}

/** The file opened for reading, and its stat: a regular file of the lease's user. */
async function openForRead(target) {
  const { rel } = target;
  const handle = await open(await walk(target), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw new ClientError("validation_failed", `is a directory: ${rel}`);
    if (!info.isFile()) throw new ClientError("validation_failed", `not a regular file: ${rel}`);
    owned(info, rel);
    return { handle, info };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function read(target) {
  const { handle, info } = await openForRead(target);
  try {
    // The size first, on a line of its own: the service answers with it before the bytes
    // (sandboxed-filesystem.ts), and no more than that many follow, however the file grows.
    const size = info.size;
    if (!process.stdout.write(`${size}\n`)) await new Promise((resolve) => process.stdout.once("drain", resolve));
    if (size === 0) return;
    const stream = handle.createReadStream({ start: 0, end: size - 1, autoClose: false });
    for await (const chunk of stream) {
      if (!process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once("drain", resolve));
    }
  } finally {
    await handle.close();
  }
}

async function write(where, content) {
  const { rel, segments } = where;
  const target = await walk(where);
  if (segments.length === 0) throw new ClientError("validation_failed", "cannot write to the lease root");
  const dir = path.dirname(target);
  await mkdir(dir, { recursive: true }).catch((error) => {
    if (error.code === "ENOTDIR" || error.code === "EEXIST") throw new ClientError("validation_failed", `a parent of ${rel} is not a directory`);
    throw error;
  });
  await walk(where);
  let mode;
  const existing = await lstat(target).catch(() => null);
  if (existing) {
    if (existing.isDirectory()) throw new ClientError("validation_failed", `is a directory: ${rel}`);
    mode = existing.mode & 0o7777;
  }
  const temp = path.join(dir, `.${path.basename(target)}.drydock-${randomBytes(6).toString("hex")}.tmp`);
  try {
    const handle = await open(temp, "wx", mode ?? 0o666);
    try {
      for await (const chunk of content) await handle.writeFile(chunk);
      if (mode !== undefined) await handle.chmod(mode);
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

// A write's content on stdin: frames of a 4-byte big-endian length and that many bytes, then a
// frame of length 0, which says the content is whole. Input that ends without it was cut short
// (the client hung up, the upload went over its limit): the file is then left as it was.
async function* contentFrames(input, rel) {
  for (;;) {
    const chunk = await input.frame();
    if (chunk === null) throw new ClientError("upload_incomplete", `${rel}: the upload ended before all of it arrived`);
    if (chunk.length === 0) return;
    yield chunk;
  }
}

// The page: the names after `after` ("": from the first), at most `limit` (undefined: all).
async function list(where, after, limit) {
  const { rel } = where;
  const target = await walk(where);
  const info = await lstat(target);
  if (!info.isDirectory()) throw new ClientError("validation_failed", `not a directory: ${rel}`);
  const entries = [];
  // Code-unit order: the listing must not depend on the host's locale. Only the page's names are looked at.
  let names = (await readdir(target)).filter((name) => after === "" || name > after);
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (limit !== undefined) names = names.slice(0, limit);
  for (const name of names) {
    const entry = await lstat(path.join(target, name)).catch(() => null);
    if (!entry) continue;
    entries.push({
      name,
      type: entry.isSymbolicLink() ? "symlink" : entry.isDirectory() ? "directory" : entry.isFile() ? "file" : "other",
      size: entry.size,
      modifiedAt: entry.mtime.toISOString(),
    });
  }
  return entries;
}

async function remove(where) {
  const { segments } = where;
  const target = await walk(where);
  if (segments.length === 0) throw new ClientError("validation_failed", "refusing to remove the lease root");
  await lstat(target);
  await rm(target, { recursive: true, force: false });
}

/** An error as the service reads it: the client's (exit 3) or the helper's own (exit 4). */
function answerOf(error, rel) {
  if (error instanceof ClientError) return { status: 3, code: error.code, message: error.message };
  if (error.code === "ENOENT" || error.code === "ENOTDIR") return { status: 3, code: "file_not_found", message: rel };
  if (error.code === "EISDIR") return { status: 3, code: "validation_failed", message: `is a directory: ${rel}` };
  if (error.code === "ELOOP") return { status: 3, code: "path_outside_lease", message: `${rel}: symlinks are not followed` };
  if (error.code === "EACCES" || error.code === "EPERM") return { status: 3, code: "path_outside_lease", message: `${rel}: permission denied` };
  if (error.code === "EEXIST") return { status: 3, code: "validation_failed", message: `a file is in the way: ${rel}` };
  return { status: 4, code: "internal", message: String(error.message) };
}

/** Bytes held from stdin before it is paused: an upload comes no faster than its file is written. */
const HIGH_WATER = 1024 * 1024;

/** Reads exactly n bytes from a stream as they come (null: it ended first). */
class Input {
  constructor(stream) {
    this.stream = stream;
    this.parts = [];
    this.buffered = 0;
    this.ended = false;
    this.wake = null;
    stream.on("data", (chunk) => {
      this.parts.push(chunk);
      this.buffered += chunk.length;
      if (this.buffered >= HIGH_WATER) stream.pause();
      this.wake?.();
    });
    stream.on("end", () => {
      this.ended = true;
      this.wake?.();
    });
  }
  async exact(n) {
    while (this.buffered < n) {
      if (this.ended) return null;
      this.stream.resume();
      await new Promise((resolve) => (this.wake = resolve));
      this.wake = null;
    }
    const all = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    this.parts = all.length > n ? [all.subarray(n)] : [];
    this.buffered -= n;
    return all.subarray(0, n);
  }
  async frame() {
    const header = await this.exact(4);
    return header === null ? null : this.exact(header.readUInt32BE(0));
  }
}

/**
 * Serve mode: requests and answers for as long as stdin is open. A request is a frame (4 bytes
 * of length, big-endian, then that many bytes) of JSON: {id, op, path, after?, limit?, max?}; a
 * write's request is followed by its content's frames and an empty frame. Requests are carried
 * out side by side, and each answer is one frame of JSON, {id, ok: true, ...} or {id, ok: false,
 * code, message}, written whole when its op is done, in whatever order they finish; a read's
 * answer is followed, in the same write, by exactly `size` bytes of the file, or by none when it
 * said `inline: false` (the file is larger than the request's `max`: the service reads it with an
 * op of its own, streamed). The service sends only small content this way. Before any answer
 * comes {id: 0, ok: true, ready: true}: it has started. When stdin ends, the helper finishes what
 * it has started and exits.
 */
async function serve() {
  const input = new Input(process.stdin);
  const send = (answer, bytes) => {
    const json = Buffer.from(JSON.stringify(answer));
    const header = Buffer.allocUnsafe(4);
    header.writeUInt32BE(json.length, 0);
    process.stdout.write(bytes === undefined ? Buffer.concat([header, json]) : Buffer.concat([header, json, bytes]));
  };
  // First, that it has started: the service ends a helper that does not say so in time.
  send({ id: 0, ok: true, ready: true });
  const running = new Set();
  for (;;) {
    const frame = await input.frame();
    if (frame === null) break;
    const request = JSON.parse(frame.toString("utf8"));
    // A write's content is read whole before anything else, so a refused write leaves no frame behind.
    let content = null;
    if (request.op === "write") {
      content = [];
      try {
        for await (const chunk of contentFrames(input, request.path)) content.push(chunk);
      } catch {
        break; // stdin ended within it: nothing more comes
      }
    }
    const done = carryOut(request, content, send).finally(() => running.delete(done));
    running.add(done);
  }
  await Promise.all(running);
}

/** One served request, to its answer: never rejects. */
async function carryOut(request, content, send) {
  const { id } = request;
  const where = targetOf(request.path);
  try {
    if (request.op === "read") {
      const { handle, info } = await openForRead(where);
      try {
        if (info.size > request.max) return send({ id, ok: true, size: info.size, inline: false });
        // The bytes first, then their count: a file that shrank meanwhile is answered as it is now.
        const bytes = Buffer.allocUnsafe(info.size);
        let got = 0;
        while (got < bytes.length) {
          const { bytesRead } = await handle.read(bytes, got, bytes.length - got, got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        send({ id, ok: true, size: got, inline: true }, bytes.subarray(0, got));
      } finally {
        await handle.close();
      }
    } else if (request.op === "write") {
      await write(where, content);
      send({ id, ok: true });
    } else if (request.op === "list") {
      send({ id, ok: true, entries: await list(where, request.after ?? "", request.limit) });
    } else if (request.op === "remove") {
      await remove(where);
      send({ id, ok: true });
    } else {
      throw new ClientError("validation_failed", `unknown file operation ${request.op}`);
    }
  } catch (error) {
    const { code, message } = answerOf(error, where.rel);
    send({ id, ok: false, code, message });
  }
}

async function once() {
  const where = targetOf(rel);
  if (op === "read") await read(where);
  else if (op === "write") await write(where, contentFrames(new Input(process.stdin), rel));
  else throw new ClientError("validation_failed", `unknown file operation ${op}`);
}

try {
  await (op === "serve" ? serve() : once());
} catch (error) {
  const { status, code, message } = answerOf(error, rel);
  process.stderr.write(JSON.stringify({ code, message }));
  process.exit(status);
}
