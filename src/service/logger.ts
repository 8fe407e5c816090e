import { pino, type Logger, type LevelWithSilent } from "pino";

/**
 * The service's log: JSON lines (pino), one object per line, for a journal or a log shipper; or,
 * on a terminal, the same records as short readable lines. Records carry ids (request, token,
 * lease, resource, blueprint, stream), never a token, a key or a config value that could hold one.
 */
export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export interface LoggerOptions {
  /** LOG_LEVEL; default info. */
  level?: string;
  /** Readable lines instead of JSON (default: when stdout is a terminal). */
  pretty?: boolean;
  /** Where lines go (default stdout). */
  write?: (line: string) => void;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  if (!LOG_LEVELS.includes(level as LevelWithSilent)) throw new Error(`LOG_LEVEL: one of ${LOG_LEVELS.join(", ")}, not ${JSON.stringify(level)}`);
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  return pino(
    { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    { write: (line: string) => write(pretty ? prettyLine(line) : line) },
  );
}

/** A logger that drops everything: the default for a Drydock made in tests or a library. */
export const silentLogger: Logger = pino({ level: "silent" });

/** `12:00:01.234 INFO  request done  requestId=… status=200` from one JSON line. */
export function prettyLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { time, level, msg, err, ...rest } = record;
  const clock = typeof time === "string" ? time.slice(11, 23) : "";
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  const error = err && typeof err === "object" ? `\n    ${String((err as { stack?: unknown; message?: unknown }).stack ?? (err as { message?: unknown }).message)}` : "";
  return `${clock} ${String(level).toUpperCase().padEnd(5)} ${String(msg ?? "")}${fields ? `  ${fields}` : ""}${error}\n`;
}
