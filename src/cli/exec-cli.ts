import { parseArgs } from "node:util";
import type { DrydockClient } from "./api-client";

interface ExecResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  timedOut: boolean;
}

/** `drydock exec LEASE [--cwd DIR] [--timeout S] [--env K=V]... -- ARGV...`; exits with the command's code. */
export async function execCommand(client: DrydockClient, args: string[]): Promise<number> {
  const dashdash = args.indexOf("--");
  const own = dashdash >= 0 ? args.slice(0, dashdash) : args.slice(0, 1);
  const argv = dashdash >= 0 ? args.slice(dashdash + 1) : args.slice(1);
  const { values, positionals } = parseArgs({
    args: own,
    options: { cwd: { type: "string" }, timeout: { type: "string" }, env: { type: "string", multiple: true }, shell: { type: "boolean" } },
    allowPositionals: true,
  });
  const [id] = positionals;
  if (!id || argv.length === 0) throw new Error("usage: drydock exec LEASE_ID [--cwd DIR] [--timeout SECONDS] [--env K=V] -- COMMAND [ARGS...]");
  const env: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const eq = kv.indexOf("=");
    if (eq < 1) throw new Error(`--env takes K=V, not ${kv}`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const result = await client.request<ExecResult>("POST", `/v1/leases/${id}/commands`, {
    argv,
    ...(values.cwd ? { cwd: values.cwd } : {}),
    ...(values.timeout ? { timeoutSeconds: Number(values.timeout) } : {}),
    ...(Object.keys(env).length ? { env } : {}),
    ...(values.shell ? { shell: true } : {}),
  });
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  if (result.stdoutTruncated || result.stderrTruncated) console.error("drydock: output was truncated");
  if (result.timedOut) console.error("drydock: the command timed out and was killed");
  if (result.signal) console.error(`drydock: the command was ended by ${result.signal}`);
  return result.exitCode ?? 128;
}
