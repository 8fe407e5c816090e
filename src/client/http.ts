import type { ApiErrorCode } from "./wire-types";

/**
 * The typed client's HTTP: one fetch per call with the bearer token, and the API's error body
 * `{error: {code, message, details?}}` turned into a DrydockError. Nothing here imports a
 * package: the CLI loads it before it knows which subcommand runs.
 */

/** An error the API answered with: its HTTP status, its code and message, and its details. */
export class DrydockError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    /** The error's `details`, as the API sent them (a 422's per-blueprint reasons, a 409's status, a 400's field). */
    readonly details: Record<string, unknown> = {},
    /** Only on a 500: the request's id, to quote when reporting it. */
    readonly requestId: string | null = null,
  ) {
    super(message);
    this.name = "DrydockError";
  }
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface CallOptions {
  /** Aborts the request (and, for a streamed command, the command: the service kills a command whose client is gone). */
  signal?: AbortSignal;
}

export interface HttpOptions {
  /** Where the service is: `http://127.0.0.1:8080`. */
  url: string;
  /** Sent as `Authorization: Bearer <token>` (null: no token, for /healthz). */
  token?: string | null;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

export class Http {
  readonly baseUrl: string;
  readonly #token: string | null;
  readonly #fetch: typeof fetch;

  constructor(options: HttpOptions) {
    this.baseUrl = options.url.replace(/\/+$/, "");
    this.#token = options.token ?? null;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** A JSON request answered with JSON (or nothing, for a 204). */
  async json<T>(method: string, path: string, query?: Query, body?: unknown, options: CallOptions = {}): Promise<T> {
    const response = await this.send(method, path, query, body === undefined ? undefined : { type: "application/json", data: JSON.stringify(body) }, options);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** The response itself, once it is known to be a success: for bytes, and for bodies read as they arrive. */
  async send(method: string, path: string, query: Query | undefined, body: { type: string; data: string | Uint8Array | ReadableStream<Uint8Array> } | undefined, options: CallOptions = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body) headers["content-type"] = body.type;
    const response = await this.#fetch(`${this.baseUrl}${path}${queryString(query)}`, {
      method,
      headers,
      ...(body ? { body: body.data as NonNullable<RequestInit["body"]> } : {}),
      // A stream is sent as it is read (fetch asks for this with a stream body).
      ...(body?.data instanceof ReadableStream ? ({ duplex: "half" } as RequestInit) : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  /**
   * A request whose answer is given back whatever its status (a lease's web server, through the
   * proxy, answers 404s of its own); `path` is sent as it is, query included.
   */
  raw(method: string, path: string, init: { headers?: Record<string, string>; body?: Uint8Array | string; signal?: AbortSignal } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    return this.#fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      ...(init.body !== undefined ? { body: init.body as NonNullable<RequestInit["body"]> } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
    });
  }
}

/** The API's error, from a response that is one (not ok). */
export function apiErrorOf(response: Response): Promise<DrydockError> {
  return errorOf(response);
}

/** `?a=1&b=x` of the defined values; "" when there are none. */
function queryString(query: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined && value !== null) params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** A path segment: an id as it is, encoded (`../x` cannot become another route). */
export const segment = (value: string) => encodeURIComponent(value);

/** A file path inside a lease: each segment encoded, the slashes kept. */
export const filePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");

async function errorOf(response: Response): Promise<DrydockError> {
  const type = response.headers.get("content-type") ?? "";
  if (type.includes("json")) {
    const payload = (await response.json().catch(() => null)) as { error?: { code?: unknown; message?: unknown; details?: unknown; requestId?: unknown } } | null;
    const e = payload?.error;
    if (e && typeof e.code === "string" && typeof e.message === "string") {
      const details = typeof e.details === "object" && e.details !== null && !Array.isArray(e.details) ? (e.details as Record<string, unknown>) : {};
      return new DrydockError(response.status, e.code as ApiErrorCode, e.message, details, typeof e.requestId === "string" ? e.requestId : null);
    }
  }
  const text = await response.text().catch(() => "");
  return new DrydockError(response.status, "http_error", text.trim().slice(0, 500) || response.statusText || `HTTP ${response.status}`);
}

/** The lines of an application/x-ndjson body, parsed, as they arrive. */
export async function* ndjsonLines<T>(response: Response): AsyncGenerator<T> {
  if (!response.body) return;
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (text.trim()) yield JSON.parse(text) as T;
    }
  }
  buffered += decoder.decode();
  if (buffered.trim()) yield JSON.parse(buffered) as T;
}
