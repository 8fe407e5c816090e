/** A small client of the v1 HTTP API, for the CLI and the benchmark. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
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
      const payload = type.includes("json") ? ((await response.json()) as { error?: { code?: string; message?: string } }) : { error: { message: await response.text() } };
      throw new ApiError(response.status, payload.error?.code ?? "error", payload.error?.message ?? response.statusText);
    }
    return response;
  }
}
