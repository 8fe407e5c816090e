/**
 * The httpd interface of a lease on an SSH host (static-hosts, ec2-host): the server runs through
 * the lease's SSH command interface (in its directory, carrying DRYDOCK_LEASE, so the lease's
 * teardown sweep kills it), and each stream to it is a direct-tcpip channel of the lease's own
 * pooled connection to 127.0.0.1:port on the host (`forwardOut`). No port of the host is opened
 * to the network, and sshd's `AllowTcpForwarding` must allow it (OpenSSH's default does).
 */
import type { Duplex } from "node:stream";
import type { CommandInterface } from "./command-interface";
import { HttpdUnreachableError, socketReason, type HttpdInterface, type RunningHttpd } from "./httpd-interface";
import { runServer } from "./httpd-run";
import type { SessionRunner } from "./ssh-connections";

export function sshHttpd(command: CommandInterface, session: SessionRunner, where: string): HttpdInterface {
  return {
    where,
    start(argv, port, options): RunningHttpd {
      return { exited: runServer(command, argv, options), connect: () => forwardedStream(session, port, where) };
    },
  };
}

/**
 * A channel to 127.0.0.1:port on the host. The pool keeps a connection open while someone uses
 * it, so the use lasts until the channel closes, not just until it is open: an idle timer must
 * not close the connection under a response still streaming.
 */
function forwardedStream(session: SessionRunner, port: number, where: string): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) => {
    session(async (s) => {
      const channel = await s.forwardOut("127.0.0.1", port);
      resolve(channel);
      await new Promise<void>((closed) => channel.once("close", () => closed()));
    }).catch((error: unknown) => reject(new HttpdUnreachableError(where, port, socketReason(error))));
  });
}
