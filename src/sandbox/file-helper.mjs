// The files API's worker inside a lease's sandbox: `node file-helper.mjs <op> <root> <path>`.
//
// Plain JavaScript with no imports but Node's own, because it runs inside the sandbox where
// nothing of the project but this file is mounted. It runs as the lease's unprivileged user, in
// a mount namespace that shows the lease's directory (read-write) and the read-only system
// paths, nothing else. So the kernel enforces the boundary: a symlink, a swapped directory or a
// lost rename race can lead it only to what a command of the same lease could reach itself.
// The checks below (no symlinks on the way, the file belongs to the lease's user) keep the API's
// answers strict on top of that.
//
// Protocol: ops read (the file's size and a newline, then its bytes, to stdout), write (framed
// bytes from stdin: see framed), list (JSON to stdout), remove.
// Exit 0 on success; exit 3 with {"code","message"} on stderr for an error the client caused.
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

// list also takes the page: the names after `after` ("": from the first), at most `limit` ("": all).
const [op, root, rel, after = "", limit = ""] = process.argv.slice(2);
const segments = rel.split("/").filter((s) => s !== "" && s !== ".");
const uid = process.getuid();

async function walk() {
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

function owned(info) {
  // A file the lease's user does not own was put there by someone else (a hard link planted
  // from outside): never served.
  if (info.uid !== uid) throw new ClientError("path_outside_lease", `${rel}: not owned by the lease`);
}

async function read() {
  const target = await walk();
  const handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw new ClientError("validation_failed", `is a directory: ${rel}`);
    if (!info.isFile()) throw new ClientError("validation_failed", `not a regular file: ${rel}`);
    owned(info);
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

async function write() {
  const target = await walk();
  if (segments.length === 0) throw new ClientError("validation_failed", "cannot write to the lease root");
  const dir = path.dirname(target);
  await mkdir(dir, { recursive: true }).catch((error) => {
    if (error.code === "ENOTDIR" || error.code === "EEXIST") throw new ClientError("validation_failed", `a parent of ${rel} is not a directory`);
    throw error;
  });
  await walk();
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
      for await (const chunk of framed(process.stdin)) await handle.writeFile(chunk);
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

// write's stdin: frames of a 4-byte big-endian length and that many bytes, then a frame of
// length 0, which says the content is whole. Input that ends without it was cut short (the
// client hung up, the upload went over its limit): the file is then left as it was.
async function* framed(input) {
  const parts = [];
  let buffered = 0;
  const take = (n) => {
    const out = Buffer.allocUnsafe(n);
    for (let at = 0; at < n; ) {
      const part = parts[0];
      const used = Math.min(part.length, n - at);
      part.copy(out, at, 0, used);
      at += used;
      if (used === part.length) parts.shift();
      else parts[0] = part.subarray(used);
    }
    buffered -= n;
    return out;
  };
  for await (const chunk of input) {
    parts.push(chunk);
    buffered += chunk.length;
    while (buffered >= 4) {
      const length = (parts[0].length >= 4 ? parts[0] : Buffer.concat(parts)).readUInt32BE(0);
      if (length === 0) return;
      if (buffered < 4 + length) break;
      take(4);
      yield take(length);
    }
  }
  throw new ClientError("upload_incomplete", `${rel}: the upload ended before all of it arrived`);
}

async function list() {
  const target = await walk();
  const info = await lstat(target);
  if (!info.isDirectory()) throw new ClientError("validation_failed", `not a directory: ${rel}`);
  const entries = [];
  // Code-unit order: the listing must not depend on the host's locale. Only the page's names are looked at.
  let names = (await readdir(target)).filter((name) => after === "" || name > after);
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (limit !== "") names = names.slice(0, Number(limit));
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
  process.stdout.write(JSON.stringify(entries));
}

async function remove() {
  const target = await walk();
  if (segments.length === 0) throw new ClientError("validation_failed", "refusing to remove the lease root");
  await lstat(target);
  await rm(target, { recursive: true, force: false });
}

const ops = { read, write, list, remove };

try {
  if (!ops[op]) throw new ClientError("validation_failed", `unknown file operation ${op}`);
  await ops[op]();
} catch (error) {
  let out = error;
  if (!(error instanceof ClientError)) {
    if (error.code === "ENOENT" || error.code === "ENOTDIR") out = new ClientError("file_not_found", rel);
    else if (error.code === "EISDIR") out = new ClientError("validation_failed", `is a directory: ${rel}`);
    else if (error.code === "ELOOP") out = new ClientError("path_outside_lease", `${rel}: symlinks are not followed`);
    else if (error.code === "EACCES" || error.code === "EPERM") out = new ClientError("path_outside_lease", `${rel}: permission denied`);
    else if (error.code === "EEXIST") out = new ClientError("validation_failed", `a file is in the way: ${rel}`);
    else {
      process.stderr.write(JSON.stringify({ code: "internal", message: String(error.message) }));
      process.exit(4);
    }
  }
  process.stderr.write(JSON.stringify({ code: out.code, message: out.message }));
  process.exit(3);
}
