/**
 * The `filesystem` interface of a sandboxed local lease. Each operation runs file-helper.mjs
 * inside the lease's sandbox, as the lease's user: the kernel, not a check in this process,
 * decides what it can reach. A swapped root, a hard link or a lost rename race leads at most to
 * what the lease's own commands can read (the read-only system paths), never to the service's
 * files, and writes land only in the lease's directory.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import type { Writable } from "node:stream";
import { DomainError, FileNotFoundError, InterfaceUnavailableError, PathOutsideLeaseError, ValidationError } from "../domain/errors";
import type { FileEntry, FilesystemInterface } from "../interfaces/filesystem-interface";
import { splitLeasePath } from "../interfaces/lease-path";
import { FILE_HELPER, type LeaseSandboxLease, type LocalSandbox, type SandboxLaunch } from "./local-sandbox";

/** A helper that has not finished by then is killed: file operations are quick or broken. */
const HELPER_TIMEOUT_MS = 120_000;

export class SandboxedFilesystem implements FilesystemInterface {
  constructor(
    private readonly sandbox: LocalSandbox,
    private readonly lease: LeaseSandboxLease,
  ) {}

  async readFile(relPath: string): Promise<Uint8Array> {
    return this.run("read", relPath);
  }

  async writeFile(relPath: string, data: Uint8Array): Promise<void> {
    await this.run("write", relPath, data);
  }

  async list(relPath: string): Promise<FileEntry[]> {
    const out = await this.run("list", relPath === "" ? "." : relPath);
    return JSON.parse(Buffer.from(out).toString("utf8")) as FileEntry[];
  }

  async remove(relPath: string): Promise<void> {
    await this.run("remove", relPath);
  }

  private async run(op: "read" | "write" | "list" | "remove", relPath: string, input?: Uint8Array): Promise<Uint8Array> {
    // The textual rules (relative, no `..`, no NUL, length) are the service's, checked before
    // anything starts; the helper walks the components the same way the local adapter does.
    const segments = splitLeasePath(relPath);
    const rel = segments.length === 0 ? "." : segments.join("/");
    const helper = await helperSource();
    const launch = await this.sandbox.launch(this.lease, this.lease.leaseDir, [process.execPath, HELPER_IN_SANDBOX, op, this.lease.leaseDir, rel], [HELPER_IN_SANDBOX]);
    let result: { code: number | null; stdout: Buffer; stderr: string };
    try {
      result = await runHelper(launch, helper, input);
    } finally {
      await launch.close();
    }
    if (result.code === 0) return result.stdout;
    throw helperError(result.code, result.stderr, relPath);
  }
}

/** Where the helper appears inside the sandbox: copied in through a pipe, read-only. */
const HELPER_IN_SANDBOX = "/drydock/file-helper.mjs";
let helperText: Promise<Buffer> | null = null;
function helperSource(): Promise<Buffer> {
  return (helperText ??= readFile(FILE_HELPER));
}

function runHelper(launch: SandboxLaunch, helper: Buffer, input: Uint8Array | undefined): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const argv = launch.argv;
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ["pipe", "pipe", "pipe", ...launch.stdio],
      env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" },
      cwd: "/",
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // gone already
        }
      }
    }, HELPER_TIMEOUT_MS);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new InterfaceUnavailableError(`cannot start the lease's file helper: ${error.message}`));
    });
    const helperPipe = (child.stdio as unknown as (Writable | null)[])[5] ?? null;
    helperPipe?.on("error", () => undefined);
    helperPipe?.end(helper);
    child.stdout!.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr!.on("data", (chunk: Buffer) => {
      if (err.reduce((n, c) => n + c.length, 0) < 64 * 1024) err.push(chunk);
    });
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(input);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString("utf8") });
    });
  });
}

function helperError(code: number | null, stderr: string, relPath: string): DomainError {
  if (code === 3) {
    try {
      const { code: errorCode, message } = JSON.parse(stderr) as { code: string; message: string };
      if (errorCode === "file_not_found") return new FileNotFoundError(relPath);
      if (errorCode === "path_outside_lease") return new PathOutsideLeaseError(relPath, message.replace(`${relPath}: `, ""));
      return new ValidationError(message, { field: "path", path: relPath });
    } catch {
      // fall through: not the helper's own answer
    }
  }
  // The sandbox could not start, or the helper crashed: the host's fault, not the client's.
  const firstLine = stderr.trim().split("\n")[0] ?? "";
  return new InterfaceUnavailableError(`the lease's file helper failed (exit ${code})${firstLine ? `: ${firstLine.slice(0, 200)}` : ""}`);
}
