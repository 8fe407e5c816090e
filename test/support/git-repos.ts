import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./free-port";

/**
 * Real git repositories for the working-copy tests, served over `file://`, `git daemon` and
 * `git http-backend` on loopback.
 *
 * The repositories live under /opt: the local host's lease sandbox shows /opt (read-only) and not
 * /tmp, so a sandboxed host lease reads them over `file://` as it would an operator's mirrors
 * there. They belong to the service's user (root in CI), not to the sandbox's, which is why the
 * blueprint lists them in `fileRepositoryRoots` (git's safe.directory).
 */
const run = promisify(execFile);
const GIT_ENV = { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.net", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.net" };

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("git", args, { cwd, env: GIT_ENV });
  return stdout.trim();
}

export interface GitRepos {
  root: string;
  /** Creates a repository `name` on branch main with `files` in its first commit; returns its path. */
  create(name: string, files: Record<string, string>): Promise<string>;
  /** Commits `files` on `branch` (created from `from` when new); returns the commit. */
  commit(name: string, branch: string, files: Record<string, string>, from?: string): Promise<string>;
  fileUrl(name: string): string;
  close(): Promise<void>;
}

export async function createGitRepos(): Promise<GitRepos> {
  const root = `/opt/drydock-test-git-${randomBytes(5).toString("hex")}`;
  await mkdir(root, { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);
  const dir = (name: string) => path.join(root, name);
  const commitFiles = async (name: string, files: Record<string, string>, message: string) => {
    for (const [file, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir(name), file)), { recursive: true });
      await writeFile(path.join(dir(name), file), text);
    }
    await git(dir(name), "add", "-A");
    await git(dir(name), "commit", "-q", "-m", message);
    // Readable by the sandbox's user, as a shared mirror would be.
    await run("chmod", ["-R", "a+rX", dir(name)]);
    return git(dir(name), "rev-parse", "HEAD");
  };
  return {
    root,
    async create(name, files) {
      await git(root, "init", "-q", "-b", "main", name);
      await commitFiles(name, files, "first");
      return dir(name);
    },
    async commit(name, branch, files, from) {
      const branches = await git(dir(name), "branch", "--list", branch);
      if (branches === "") await git(dir(name), "checkout", "-q", "-b", branch, from ?? "main");
      else await git(dir(name), "checkout", "-q", branch);
      const sha = await commitFiles(name, files, `on ${branch}`);
      await git(dir(name), "checkout", "-q", "main");
      return sha;
    },
    fileUrl: (name) => `file://${dir(name)}`,
    close: () => rm(root, { recursive: true, force: true }),
  };
}

/** `git daemon` on 127.0.0.1 exporting every repository under `root`; resolves once it answers. */
export async function startGitDaemon(repos: GitRepos, probeRepo: string): Promise<{ url: (name: string) => string; close(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn("git", ["daemon", "--reuseaddr", "--export-all", "--informative-errors", `--base-path=${repos.root}`, "--listen=127.0.0.1", `--port=${port}`, repos.root], {
    stdio: "ignore",
    env: GIT_ENV,
  });
  const url = (name: string) => `git://127.0.0.1:${port}/${name}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await run("git", ["ls-remote", url(probeRepo)], { env: GIT_ENV, timeout: 2000 });
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`git daemon on port ${port} did not answer in 10 s: ${(error as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

export interface GitHttp {
  url(name: string): string;
  /** Requests that carried the right credentials, and the process table seen while each was served. */
  authorized: { path: string; processArgs: string }[];
  refused: number;
  close(): Promise<void>;
}

/**
 * `git http-backend` behind a Node HTTP server on 127.0.0.1 that wants HTTP basic auth with
 * `username:token`. While it serves an authorized request (the client's git is running), it
 * records every process's command line on this machine, so a test can look for the token there.
 */
export async function startGitHttp(repos: GitRepos, username: string, token: string): Promise<GitHttp> {
  const expected = `Basic ${Buffer.from(`${username}:${token}`).toString("base64")}`;
  const state: GitHttp["authorized"] = [];
  let refused = 0;
  const server: Server = createHttpServer((req, res) => {
    if (req.headers.authorization !== expected) {
      refused++;
      res.writeHead(401, { "www-authenticate": 'Basic realm="git"' }).end("no");
      return;
    }
    void allProcessArgs().then((processArgs) => {
      state.push({ path: req.url ?? "", processArgs });
      serveCgi(repos.root, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    authorized: state,
    get refused() {
      return refused;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Every process's argv, from /proc (what `ps -ef` shows), one per line. */
async function allProcessArgs(): Promise<string> {
  const { stdout } = await run("sh", ["-c", "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\" 2>/dev/null; echo; done"], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

function serveCgi(projectRoot: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://localhost");
  const child = spawn("git", ["http-backend"], {
    env: {
      ...GIT_ENV,
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: "1",
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method ?? "GET",
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      REMOTE_USER: "git",
      REMOTE_ADDR: "127.0.0.1",
      ...(req.headers["content-encoding"] ? { HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"]) } : {}),
      ...(req.headers["git-protocol"] ? { GIT_PROTOCOL: String(req.headers["git-protocol"]) } : {}),
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  req.pipe(child.stdin!);
  let head = Buffer.alloc(0);
  let headerDone = false;
  child.stdout!.on("data", (chunk: Buffer) => {
    if (headerDone) return void res.write(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) return;
    headerDone = true;
    let status = 200;
    for (const line of head.subarray(0, end).toString("utf8").split("\r\n")) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
      else res.setHeader(name, value);
    }
    res.writeHead(status);
    res.write(head.subarray(end + 4));
  });
  child.on("close", () => res.end());
}
