/** A small client of the v1 HTTP API, for the CLI and the benchmark. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The error's `details`, as the API sent them (the 422's per-blueprint reasons, the 409's status). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/**
 * An API error as the CLI prints it: the message with its status and code, then every detail
 * the message does not already say, one per line. Lists of objects (the 422's blueprints, a
 * 400's issues) print one item per line, its values joined by ": ".
 */
export function describeApiError(error: ApiError): string[] {
  const lines = [`drydock: ${error.message} (${error.status} ${error.code})`];
  const said = (text: string) => error.message.includes(text);
  for (const [key, value] of Object.entries(error.details)) {
    if (Array.isArray(value)) {
      const items = value.map(itemText).filter((text) => text !== "" && !said(text));
      if (items.length === 0) continue;
      if (value.every((v) => typeof v !== "object" || v === null)) lines.push(`  ${key}: ${items.join(", ")}`);
      else lines.push(`  ${key}:`, ...items.map((text) => `    ${text}`));
    } else if (value !== null && value !== undefined) {
      const text = itemText(value);
      if (text !== "" && !said(text)) lines.push(`  ${key}: ${text}`);
    }
  }
  return lines;
}

function itemText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const values = Object.values(value as Record<string, unknown>);
    if (values.every((v) => typeof v === "string" || typeof v === "number" || typeof v === "boolean")) return values.join(": ");
  }
  return JSON.stringify(value);
}

export class DrydockClient {
  /** `token`: sent as `Authorization: Bearer <token>` on every request (null: none). */
  constructor(
    readonly baseUrl: string,
    private readonly token: string | null = null,
  ) {}

  async request<T>(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<T> {
    const response = await this.send(method, path, body, init);
    if (response.status === 204) return undefined as T;
    const type = response.headers.get("content-type") ?? "";
    if (type.includes("json")) return (await response.json()) as T;
    return new Uint8Array(await response.arrayBuffer()) as T;
  }

  /** The response itself, for bodies read as they arrive (a streamed command); errors are thrown as ApiError. */
  async send(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      ...init,
      headers: {
        ...(body !== undefined && !(body instanceof Uint8Array) ? { "content-type": "application/json" } : {}),
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(init.headers ?? {}),
      },
      ...(body === undefined ? {} : { body: body instanceof Uint8Array ? body : JSON.stringify(body) }),
    });
    if (!response.ok) {
      const type = response.headers.get("content-type") ?? "";
      const payload = type.includes("json")
        ? ((await response.json()) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })
        : { error: { message: await response.text() } };
      const details = payload.error && "details" in payload.error && typeof payload.error.details === "object" && payload.error.details !== null ? payload.error.details : {};
      throw new ApiError(response.status, payload.error?.code ?? "error", payload.error?.message || response.statusText, details);
    }
    return response;
  }
}
