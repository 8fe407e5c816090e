import { createServer, type AddressInfo } from "node:net";

/**
 * A TCP port on 127.0.0.1 that nothing listened on a moment ago, for a server a test starts (sshd,
 * git's daemon, an httpd behind a lease). Another process may take it before the test's server
 * binds; on this machine's loopback, in tests that bind at once, that has not happened.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
