/**
 * SSH connections kept open per lease, so a lease's commands and file operations share one
 * connection instead of paying a handshake each.
 *
 * Invariants:
 * - One connection per key (a lease id). Callers borrow it through `use`; while anyone borrows
 *   it, it stays open. Once nobody has used it for `idleMs`, it is closed; `close(key)` (the
 *   lease was destroyed) closes it at once, whatever still runs on it.
 * - A connection is only reused for the same target: if the host's address, user, key or pinned
 *   fingerprint changed in the blueprint since it was opened, the next use opens a new one.
 * - OpenSSH allows 10 sessions per connection (MaxSessions). Commands take one of `maxChannels`
 *   (6) slots, queueing beyond; the SFTP session takes one more; `execUrgent` (kill commands
 *   for a timeout) bypasses the queue, so a full connection can still end its own commands. The
 *   spare sessions cover channels sshd has not finished closing yet.
 * - The pool is per process: a lease whose commands ran in an API process and which a worker in
 *   another process destroys has its connection closed by the idle timer instead.
 */
import { createHash } from "node:crypto";
import type { Client, ClientChannel, SFTPWrapper } from "ssh2";
import { connectSsh, describeTarget, SshConnectionError, type ConnectOptions, type SshTarget } from "./ssh-target";

/**
 * A command started on the host. Its exit status is recorded from the moment the channel opens:
 * ssh2 emits 'exit' as a plain event, and a fast command's exit can arrive in the same TCP read
 * as the channel's confirmation, before any caller could listen.
 */
export interface RemoteProcess {
  readonly channel: ClientChannel;
  /** null until the host reported how the command ended (it may never, if the connection drops). */
  exit(): { code: number | null; signal: string | null } | null;
}

export interface SshSession {
  readonly description: string;
  /** Starts a command; it holds a channel slot until its channel closes. */
  exec(command: string): Promise<RemoteProcess>;
  /** Starts a command without waiting for a slot (for short kill commands). */
  execUrgent(command: string): Promise<RemoteProcess>;
  /** The connection's SFTP session, opened once and shared. */
  sftp(): Promise<SFTPWrapper>;
  /**
   * A TCP connection the host makes to `host:port` for us (ssh2's `forwardOut`, a direct-tcpip
   * channel): how a lease's httpd is reached without opening a port on the host. It takes no
   * command slot (OpenSSH counts it apart from MaxSessions).
   */
  forwardOut(host: string, port: number): Promise<ClientChannel>;
}

/** Runs `fn` with a session of one lease's connection (the pool's `use`, bound to a lease and host). */
export type SessionRunner = <T>(fn: (session: SshSession) => Promise<T>) => Promise<T>;

export interface SshPoolOptions {
  /** Close a connection nobody used for this long (default 60 s). */
  idleMs?: number;
  maxChannels?: number;
  keepaliveIntervalMs?: number;
  /** Opens connections (tests count them). */
  connect?: (target: SshTarget, options: ConnectOptions) => Promise<Client>;
}

/** Refused channel opens retried before giving up (see `open`). */
const OPEN_RETRIES = 4;

interface Entry {
  signature: string;
  client: Promise<Client>;
  users: number;
  idleTimer: NodeJS.Timeout | undefined;
  sftp: Promise<SFTPWrapper> | undefined;
  closed: boolean;
  slots: Slots;
}

export class SshConnectionPool {
  private readonly entries = new Map<string, Entry>();
  private readonly idleMs: number;
  private readonly maxChannels: number;
  private readonly keepaliveIntervalMs: number;
  private readonly connect: NonNullable<SshPoolOptions["connect"]>;
  /** Connections opened since the pool was made (for tests and metrics). */
  opened = 0;

  constructor(options: SshPoolOptions = {}) {
    this.idleMs = options.idleMs ?? 60_000;
    this.maxChannels = options.maxChannels ?? 6;
    this.keepaliveIntervalMs = options.keepaliveIntervalMs ?? 15_000;
    this.connect = options.connect ?? connectSsh;
  }

  /** Connections currently open or opening. */
  get size(): number {
    return this.entries.size;
  }

  async use<T>(key: string, target: SshTarget, fn: (session: SshSession) => Promise<T>): Promise<T> {
    try {
      return await this.useOnce(key, target, fn);
    } catch (error) {
      // The pooled connection had died before this use started anything on it (the host went
      // away, or a network blip, and its close was not seen yet): once more, on a new connection,
      // whose failure (refused, timed out) then says what is wrong with the host.
      if (error instanceof StaleConnectionError) return this.useOnce(key, target, fn);
      throw error;
    }
  }

  private async useOnce<T>(key: string, target: SshTarget, fn: (session: SshSession) => Promise<T>): Promise<T> {
    const entry = this.entryFor(key, target);
    entry.users++;
    clearTimeout(entry.idleTimer);
    try {
      const client = await entry.client;
      return await fn(this.session(entry, client, describeTarget(target), target.name));
    } finally {
      entry.users--;
      if (entry.users === 0 && !entry.closed) {
        entry.idleTimer = setTimeout(() => this.retire(key, entry), this.idleMs);
        entry.idleTimer.unref?.();
      }
    }
  }

  /** Closes the key's connection now (its lease ended). */
  async close(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (entry) await this.retire(key, entry);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.entries].map(([key, entry]) => this.retire(key, entry)));
  }

  private entryFor(key: string, target: SshTarget): Entry {
    const signature = signatureOf(target);
    const existing = this.entries.get(key);
    if (existing && !existing.closed && existing.signature === signature) return existing;
    // The target changed (or the connection died): whoever still uses the old one keeps it
    // until they finish; it is not reused.
    if (existing) {
      this.entries.delete(key);
      if (existing.users === 0) void this.retire(key, existing);
    }
    this.opened++;
    const entry: Entry = {
      signature,
      client: this.connect(target, { keepaliveIntervalMs: this.keepaliveIntervalMs }),
      users: 0,
      idleTimer: undefined,
      sftp: undefined,
      closed: false,
      slots: new Slots(this.maxChannels),
    };
    this.entries.set(key, entry);
    entry.client.then(
      (client) => {
        client.on("close", () => {
          entry.closed = true;
          if (this.entries.get(key) === entry) this.entries.delete(key);
        });
        client.on("error", () => {}); // 'close' follows; errors of in-flight work reach their callers
      },
      () => {
        entry.closed = true;
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry;
  }

  private async retire(key: string, entry: Entry): Promise<void> {
    clearTimeout(entry.idleTimer);
    entry.closed = true;
    if (this.entries.get(key) === entry) this.entries.delete(key);
    const client = await entry.client.catch(() => null);
    client?.end();
  }

  private session(entry: Entry, client: Client, description: string, host: string): SshSession {
    // Whether this use has opened anything yet: only then is a dead connection safe to retry on.
    let started = false;
    // ssh2 says "Not connected" on a connection known to be closed, and "No response from server"
    // when it closes while the channel is being opened: either way nothing ran on it.
    const dead = (err: unknown) => /not connected|no response from server/i.test((err as Error).message);
    const openOnce = (command: string, release: () => void): Promise<RemoteProcess> =>
      new Promise((resolve, reject) => {
        client.exec(command, (err, channel) => {
          if (err) {
            reject(err);
            return;
          }
          started = true;
          // Listeners go on here, synchronously, before anything else can be emitted.
          let exit: { code: number | null; signal: string | null } | null = null;
          channel.once("exit", (code: number | null, signal?: string) => {
            exit = { code: code ?? null, signal: code === null ? (signal ?? null) : null };
          });
          channel.once("close", release);
          resolve({ channel, exit: () => exit });
        });
      });
    // sshd counts a session until it has our answer to its channel close, so a channel opened
    // right after another closed can be refused for a moment: try again a few times.
    const open = async (command: string, release: () => void = () => {}): Promise<RemoteProcess> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await openOnce(command, release);
        } catch (err) {
          const refused = /open failed/i.test((err as Error).message);
          if (!refused || attempt >= OPEN_RETRIES || entry.closed) {
            release();
            if (dead(err)) entry.closed = true;
            if (dead(err) && !started) throw new StaleConnectionError(description);
            throw new SshConnectionError("lost", `cannot start a command on ${description}: ${(err as Error).message}`, host);
          }
          await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
        }
      }
    };
    return {
      description,
      async exec(command) {
        return open(command, await entry.slots.take());
      },
      execUrgent: (command) => open(command),
      forwardOut: (toHost, toPort) =>
        new Promise<ClientChannel>((resolve, reject) => {
          try {
            client.forwardOut("127.0.0.1", 0, toHost, toPort, (err, channel) => {
              if (err) return reject(err);
              started = true;
              resolve(channel);
            });
          } catch (err) {
            reject(err as Error); // "Not connected" at once on a dead connection
          }
        }),
      sftp() {
        if (!entry.sftp) {
          entry.sftp = new Promise<SFTPWrapper>((resolve, reject) => {
            const failed = (err: Error) => {
              entry.sftp = undefined;
              if (dead(err)) entry.closed = true;
              reject(dead(err) && !started ? new StaleConnectionError(description) : new SshConnectionError("lost", `cannot open SFTP on ${description}: ${err.message}`, host));
            };
            try {
              client.sftp((err, sftp) => {
                if (err) return failed(err);
                started = true;
                sftp.once("close", () => {
                  entry.sftp = undefined;
                });
                resolve(sftp);
              });
            } catch (err) {
              failed(err as Error); // ssh2 throws "Not connected" at once on a dead connection
            }
          });
        }
        return entry.sftp;
      },
    };
  }
}

/** What makes two targets the same connection; the key material only as a hash. */
function signatureOf(target: SshTarget): string {
  const key = createHash("sha256").update(target.privateKey).digest("hex");
  return JSON.stringify([target.address, target.port, target.user, target.hostKeyFingerprint, key]);
}

/** The pooled connection was already dead when a use began: SshConnectionPool.use retries once. */
class StaleConnectionError extends Error {
  constructor(description: string) {
    super(`the connection to ${description} had closed`);
    this.name = "StaleConnectionError";
  }
}

/** A counting semaphore; `take` resolves with the function that gives the slot back (once). */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  async take(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
