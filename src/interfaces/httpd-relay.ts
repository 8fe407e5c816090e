/**
 * The httpd interface of a sandboxed local lease. Its commands run with `--unshare-net`: a
 * network namespace of their own with only a loopback device, so a server listening there is
 * out of the service's reach, and the lease cannot reach the service's ports, its database, or
 * anything on the network. httpd keeps it that way: the sandbox's network is not shared, and no
 * port is opened anywhere.
 *
 * Instead, the server is started by a relay (RELAY_SCRIPT, run with the Node.js binary the
 * sandbox already has read-only) inside the same sandbox, so in the same namespace. The relay
 * connects out to a Unix socket the service listens on, and when the service needs a stream to
 * the server it asks on that control connection; the relay dials 127.0.0.1:port inside the
 * namespace and a second connection to the socket, says `ok` (or `refused CODE`) on it, and
 * pipes the two together.
 *
 * Why this does not weaken the lease's isolation:
 * - The service only listens and accepts; it never connects to a path the lease could name or
 *   replace. (A service, often root, that connected to a socket in a directory the lease can
 *   write could be sent, through a symlink, to any socket on the machine: docker's, the
 *   database's.)
 * - The socket lives in a directory the service creates inside the lease's private /tmp (the
 *   only place both see), owned by the service and not writable by the lease user; the socket
 *   is bound and handed to the lease user through the directory's descriptor
 *   (/proc/self/fd/N/…), so a directory swapped meanwhile is never written to.
 * - The lease gains one thing: connecting to a socket whose other end only sends it `open`
 *   and carries bytes the lease's own server answers. It reaches nothing outside its sandbox.
 * - Only the lease's own processes see its /tmp, so only they could speak on the socket; a
 *   lease that fakes the relay only answers its own proxy.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lchown, mkdir, open, rm, type FileHandle } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import path from "node:path";
import type { Duplex } from "node:stream";
import type { SandboxIdentity } from "../sandbox/sandbox-argv";
import type { CommandInterface } from "./command-interface";
import { HttpdUnreachableError, type HttpdInterface, type RunningHttpd } from "./httpd-interface";
import { HTTPD_CONNECT_TIMEOUT_MS } from "./httpd-local";
import { runServer } from "./httpd-run";

/**
 * Runs inside the sandbox as `node -e RELAY_SCRIPT SOCKET PORT -- ARGV...`: starts ARGV, exits
 * with its exit, and relays streams to 127.0.0.1:PORT as the service asks for them.
 */
export const RELAY_SCRIPT = `"use strict";
const net = require("node:net");
const { spawn } = require("node:child_process");
const { constants } = require("node:os");
const [socketPath, portText, , ...argv] = process.argv.slice(1);
const port = Number(portText);
const child = spawn(argv[0], argv.slice(1), { stdio: "inherit" });
child.on("error", (e) => {
  process.stderr.write("drydock: cannot start " + argv[0] + ": " + (e.code || e.message) + "\\n");
  process.exit(e.code === "ENOENT" ? 127 : 126);
});
child.on("exit", (code, signal) => process.exit(code === null ? 128 + (constants.signals[signal] || 0) : code));
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, () => child.kill(sig));
function relay() {
  const back = net.connect(socketPath);
  const up = net.connect({ host: "127.0.0.1", port });
  let connected = false;
  up.on("connect", () => { connected = true; back.write("ok\\n"); up.pipe(back); back.pipe(up); });
  up.on("error", (e) => { if (connected) back.destroy(); else back.end("refused " + (e.code || "error") + "\\n"); });
  back.on("error", () => up.destroy());
  back.on("close", () => up.destroy());
}
const control = net.connect(socketPath, () => control.write("control\\n"));
let pending = "";
control.setEncoding("utf8");
control.on("data", (data) => {
  pending += data;
  for (let i; (i = pending.indexOf("\\n")) >= 0; pending = pending.slice(i + 1)) if (pending.slice(0, i) === "open") relay();
});
control.on("error", (e) => process.stderr.write("drydock: the relay cannot reach the service: " + (e.code || e.message) + "\\n"));
`;

export interface SandboxedHttpdOptions {
  /** The lease's private /tmp as the service sees it (it is /tmp inside the sandbox). */
  tmpDir: string;
  /** The lease user the sandbox switches to; null when the service is unprivileged (no switch). */
  user: SandboxIdentity | null;
}

export function sandboxedHttpd(command: CommandInterface, options: SandboxedHttpdOptions): HttpdInterface {
  const where = "the lease's sandbox on this machine";
  return {
    where,
    start(argv, port, startOptions): RunningHttpd {
      const endpoint = RelayEndpoint.open(options.tmpDir, options.user, where, port);
      const exited = endpoint.then(async (ready) => {
        try {
          return await runServer(command, [process.execPath, "-e", RELAY_SCRIPT, `/tmp/${ready.dirName}/s`, String(port), "--", ...argv], startOptions);
        } finally {
          await ready.close();
        }
      });
      return {
        exited,
        async connect(): Promise<Duplex> {
          const ready = await endpoint.catch(() => null);
          if (!ready) throw new HttpdUnreachableError(where, port, "the relay's socket could not be made");
          return ready.connect();
        },
      };
    },
  };
}

const LINE_LIMIT = 64;
/** Connections to the socket at once (the control connection and streams in use included). */
const MAX_RELAY_CONNECTIONS = 256;
/** A connection that has not said what it is by then is closed. */
const FIRST_LINE_TIMEOUT_MS = 10_000;

/** The service's end: the listening socket, the relay's control connection, streams asked for. */
class RelayEndpoint {
  #control: Socket | null = null;
  #waiting: { resolve: (s: Duplex) => void; reject: (e: Error) => void }[] = [];
  /** Streams asked for before the relay's control connection came. */
  #starting: ((control: Socket | null) => void)[] = [];
  #closed = false;

  private constructor(
    readonly dirName: string,
    private readonly dir: string,
    private readonly handle: FileHandle,
    private readonly server: Server,
    private readonly where: string,
    private readonly port: number,
  ) {}

  static async open(tmpDir: string, user: SandboxIdentity | null, where: string, port: number): Promise<RelayEndpoint> {
    const dirName = `.drydock-httpd-${randomBytes(6).toString("hex")}`;
    const dir = path.join(tmpDir, dirName);
    // tmpDir's parents are the service's, so only its last entry is the lease's to play with.
    await mkdir(dir, { mode: 0o755 });
    const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      const info = await handle.stat();
      if (!info.isDirectory() || info.uid !== process.getuid?.()) throw new Error("the relay's directory was replaced");
      const socketPath = `/proc/self/fd/${handle.fd}/s`;
      const endpoint: { current: RelayEndpoint | null } = { current: null };
      const server = createServer((socket) => {
        if (endpoint.current) endpoint.current.accept(socket);
        else socket.destroy();
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(socketPath, () => resolve());
      });
      server.on("error", () => {});
      // The lease's processes can connect to the socket as often as they like: the service's
      // descriptors are not theirs to use up.
      server.maxConnections = MAX_RELAY_CONNECTIONS;
      // Through the directory's descriptor, and lchown: nothing is followed, whatever the lease did.
      if (user) await lchown(socketPath, user.uid, user.gid);
      endpoint.current = new RelayEndpoint(dirName, dir, handle, server, where, port);
      return endpoint.current;
    } catch (error) {
      await handle.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
  }

  /** A stream to the server; while the relay is still starting, waits for it (up to the connect timeout). */
  async connect(): Promise<Duplex> {
    const control = this.#control && !this.#control.destroyed ? this.#control : await this.#relayStarted();
    return new Promise<Duplex>((resolve, reject) => {
      const waiter = {
        resolve: (s: Duplex) => {
          clearTimeout(timer);
          resolve(s);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.#waiting = this.#waiting.filter((w) => w !== waiter);
        reject(new HttpdUnreachableError(this.where, this.port, "the relay did not answer"));
      }, HTTPD_CONNECT_TIMEOUT_MS);
      this.#waiting.push(waiter);
      control.write("open\n");
    });
  }

  #relayStarted(): Promise<Socket> {
    if (this.#closed) return Promise.reject(new HttpdUnreachableError(this.where, this.port, "the server has ended"));
    return new Promise<Socket>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#starting = this.#starting.filter((w) => w !== waiter);
        reject(new HttpdUnreachableError(this.where, this.port, "the server's relay has not started"));
      }, HTTPD_CONNECT_TIMEOUT_MS);
      const waiter = (control: Socket | null) => {
        clearTimeout(timer);
        if (control) resolve(control);
        else reject(new HttpdUnreachableError(this.where, this.port, "the server has ended"));
      };
      this.#starting.push(waiter);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(new HttpdUnreachableError(this.where, this.port, "the server has ended"));
    for (const waiter of this.#starting.splice(0)) waiter(null);
    this.#control?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.handle.close().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** A connection from inside the sandbox: its first line says what it is. */
  accept(socket: Socket): void {
    let first = "";
    socket.on("error", () => {});
    socket.setTimeout(FIRST_LINE_TIMEOUT_MS, () => socket.destroy());
    const onData = (chunk: Buffer) => {
      first += chunk.toString("latin1");
      const newline = first.indexOf("\n");
      if (newline < 0) {
        if (first.length > LINE_LIMIT) socket.destroy();
        return;
      }
      socket.off("data", onData);
      socket.setTimeout(0);
      // Not paused: the stream's next reader (the proxy's HTTP client) attaches before the next
      // I/O event, and the relay sends nothing after `ok` until the request has gone out.
      const line = first.slice(0, newline);
      const rest = Buffer.from(first.slice(newline + 1), "latin1");
      if (rest.length > 0) socket.unshift(rest);
      this.#answer(line, socket);
    };
    socket.on("data", onData);
  }

  #answer(line: string, socket: Socket): void {
    if (this.#closed) return void socket.destroy();
    if (line === "control") {
      this.#control?.destroy();
      this.#control = socket;
      for (const waiter of this.#starting.splice(0)) waiter(socket);
      return;
    }
    const waiter = this.#waiting.shift();
    if (!waiter) return void socket.destroy(); // asked for by a request that gave up
    if (line === "ok") return waiter.resolve(socket);
    socket.destroy();
    const code = line.startsWith("refused ") ? line.slice("refused ".length).slice(0, 32) : "the relay's answer was not understood";
    waiter.reject(new HttpdUnreachableError(this.where, this.port, code === "ECONNREFUSED" ? "connection refused (is the server listening on that port, on 127.0.0.1?)" : code));
  }
}
