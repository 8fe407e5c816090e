import { parseArgs } from "node:util";
import type { DrydockClient } from "./api-client";

/** The last line of a streamed command: its result without the output (that came before). */
interface ExecExit {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
}

type StreamLine = { stream: "stdout" | "stderr"; data: string } | { exit: ExecExit } | { error: { code: string; message: string } };

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
  // Streamed, so output prints while the command runs (a build's log, live).
  const response = await client.send("POST", `/v1/leases/${id}/commands?stream=1`, {
    argv,
    ...(values.cwd ? { cwd: values.cwd } : {}),
    ...(values.timeout ? { timeoutSeconds: Number(values.timeout) } : {}),
    ...(Object.keys(env).length ? { env } : {}),
    ...(values.shell ? { shell: true } : {}),
  });
  let result: ExecExit | null = null;
  for await (const line of ndjsonLines(response)) {
    if ("stream" in line) await write(line.stream === "stdout" ? process.stdout : process.stderr, line.data);
    else if ("exit" in line) result = line.exit;
    else throw new Error(`${line.error.message} (${line.error.code})`);
  }
  if (!result) throw new Error("the connection to the service ended before the command did");
  if (result.timedOut) console.error("drydock: the command timed out and was killed");
  if (result.signal) console.error(`drydock: the command was ended by ${result.signal}`);
  return result.exitCode ?? 128;
}

async function* ndjsonLines(response: Response): AsyncGenerator<StreamLine> {
  if (!response.body) return;
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (text.trim()) yield JSON.parse(text) as StreamLine;
    }
  }
  if (buffered.trim()) yield JSON.parse(buffered) as StreamLine;
}

/** Waits for a full pipe to drain, so a slow reader of our stdout slows the stream instead of filling memory. */
function write(stream: NodeJS.WriteStream, data: string): Promise<void> {
  return stream.write(data) ? Promise.resolve() : new Promise((resolve) => stream.once("drain", () => resolve()));
}
