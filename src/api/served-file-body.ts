/**
 * A file's body as the API sends it (GET /v1/leases/{id}/files/{path}): the read's bytes
 * (filesystem-interface.ts, FileRead), and what happens when the read fails half way, after the
 * 200 and the Content-Length went out. The answer can no longer say so with a status: on a real
 * socket the connection is closed at once, so the client sees a transfer short of its
 * Content-Length, and `cut` says why (the service's log). Without one (`app.request()`, tests) the
 * body itself fails. Not left to the HTTP server, which would print the error to stderr and append
 * its message to the bytes sent. `ended` runs when the body is over, whichever way.
 */
export function servedFileBody(
  read: ReadableStream<Uint8Array>,
  connection: { destroy(): void } | undefined,
  on: { cut: (error: unknown) => void; ended: () => void },
): ReadableStream<Uint8Array> {
  const reader = read.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (error) {
        on.cut(error);
        on.ended();
        if (!connection) return controller.error(error);
        connection.destroy();
        return controller.close();
      }
      if (!next.done) return controller.enqueue(next.value);
      on.ended();
      controller.close();
    },
    async cancel(reason) {
      try {
        await reader.cancel(reason);
      } finally {
        on.ended();
      }
    },
  });
}
