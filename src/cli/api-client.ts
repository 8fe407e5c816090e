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
  constructor(readonly baseUrl: string) {}

  async request<T>(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<T> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      ...init,
      headers: { ...(body !== undefined && !(body instanceof Uint8Array) ? { "content-type": "application/json" } : {}), ...(init.headers ?? {}) },
      ...(body === undefined ? {} : { body: body instanceof Uint8Array ? body : JSON.stringify(body) }),
    });
    if (response.status === 204) return undefined as T;
    const type = response.headers.get("content-type") ?? "";
    if (!response.ok) {
      const payload = type.includes("json") ? ((await response.json()) as { error?: { code?: string; message?: string } }) : { error: { message: await response.text() } };
      throw new ApiError(response.status, payload.error?.code ?? "error", payload.error?.message ?? response.statusText);
    }
    if (type.includes("json")) return (await response.json()) as T;
    return new Uint8Array(await response.arrayBuffer()) as T;
  }
}
