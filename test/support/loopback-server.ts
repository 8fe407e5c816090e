import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";

export interface LoopbackServer {
  port: number;
  /** Closes open responses too: a test that failed half way would otherwise keep close() waiting. */
  close(): Promise<void>;
}

/** Serves `fetch` on a free loopback port, for tests that need a real socket (disconnects, slow readers). */
export async function listenOnLoopback(fetch: (request: Request, env: unknown) => Response | Promise<Response>): Promise<LoopbackServer> {
  const server = serve({ fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      if ("closeAllConnections" in server) server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
