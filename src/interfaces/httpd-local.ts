/**
 * The httpd interface of an unconfined local lease (an admin's, or a blueprint with
 * `sandbox: false`): the server runs through the lease's command interface, as the lease's other
 * commands do, and shares this machine's network, so the service reaches it at 127.0.0.1:port.
 *
 * An unconfined lease can already reach everything the service's user can; listening on the
 * host's loopback gives it nothing new. Sandboxed leases use httpd-relay.ts instead.
 */
import { connect as tcpConnect } from "node:net";
import type { Duplex } from "node:stream";
import type { CommandInterface } from "./command-interface";
import { HttpdUnreachableError, socketReason, type HttpdInterface, type RunningHttpd } from "./httpd-interface";
import { runServer } from "./httpd-run";

/** How long opening a stream to the server may take before the proxy gives up on it. */
export const HTTPD_CONNECT_TIMEOUT_MS = 10_000;

export function localHttpd(command: CommandInterface): HttpdInterface {
  const where = "this machine";
  return {
    where,
    start(argv, port, options): RunningHttpd {
      return { exited: runServer(command, argv, options), connect: () => loopbackStream(port, where) };
    },
  };
}

/** A TCP connection to 127.0.0.1:port, once it is established. */
export function loopbackStream(port: number, where: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })), HTTPD_CONNECT_TIMEOUT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(new HttpdUnreachableError(where, port, socketReason(error)));
    });
  });
}
