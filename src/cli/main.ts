import { DrydockClient } from "../client/drydock-client";
import { DrydockError } from "../client/http";
import { authCommand } from "./auth-cli";
import { cliToken, serviceUrl } from "./config";
import { describeApiError } from "./describe-error";
import { execCommand } from "./exec-cli";
import { explainCommand } from "./explain-cli";
import { holdCommand, unholdCommand } from "./hold-cli";
import { httpCommand } from "./http-cli";
import { getCommand, historyCommand, leaseCommand, putCommand, releaseCommand } from "./lease-cli";
import { lsCommand } from "./ls-cli";
import { installTerminationHandlers, isTerminating } from "./termination";
import { tokenCommand } from "./token-cli";

const usage = `drydock — lease hosts and working copies

  drydock serve                                  run the service (PORT, DATABASE_URL, DRYDOCK_HOME)
  drydock lease --type host [--wait[=S]] [--keep] [--ttl S] [--priority N] [--attr k=v] [--blueprint ID]
                                                 until it prints the id, Ctrl-C, SIGTERM and the end of
                                                 --wait release the lease (--keep keeps it)
  drydock release LEASE_ID...
  drydock exec LEASE_ID [--cwd DIR] [--timeout S] [--env K=V] -- COMMAND [ARGS...]   (exec --help: timeouts, Ctrl-C)
  drydock put LEASE_ID PATH [LOCAL_FILE]         write a file (stdin without LOCAL_FILE)
  drydock get LEASE_ID PATH                      read a file to stdout
  drydock history LEASE_ID                       the lease's events
  drydock http LEASE_ID [PATH]                   the URL of the lease's web server, or PATH fetched there (http --help)
  drydock ls [leases|resources|blueprints] [--status S] [--held] [--json]   (--held: resources on hold only)
  drydock hold RESOURCE_ID --reason TEXT [--for S]   no new lease, not destroyed, until unhold or S seconds (admin)
  drydock unhold RESOURCE_ID [--reason TEXT]
  drydock token create --owner NAME --role client|admin [--max-live-leases N] [--max-live-leases-of TYPE=N]   issue a token (admin); prints it once
  drydock token ls [--all] | drydock token revoke TOKEN_ID
  drydock auth request BLUEPRINT_ID [--client NAME]       ask to use a blueprint
  drydock auth ls | approve|decline ID | revoke ID [--release-leases]   (deciding: admin)
  drydock explain lease LEASE_ID [--json]        why the lease waited: its timeline from the log
  drydock explain resource RESOURCE_ID [--json]  why the resource was built and what ended it (admin)

On the database directly (DATABASE_URL or DRYDOCK_HOME; stop the service first on PGlite):
  drydock replay                                 rebuild every projection from the log and swap it in
  drydock replay --check                         compare a rebuild with the live tables (exit 1 on a difference)
  drydock replay --as-of TIME | --to POSITION    every lease and resource as it was then
  drydock verify [--grace S]                     replay the log and check its invariants (exit 1 on a violation)
  drydock ec2 reap [--dry-run] [--grace S]       terminate ec2-host instances nothing uses (two passes S apart agree)
  drydock simulate [--from T] [--to T] [--limit|--slots|--min-ready BLUEPRINT=N] [--priority OWNER=N]
                                                 replay a window of the log under a changed policy (never writes)

The CLI talks to DRYDOCK_URL (default http://127.0.0.1:8080) with the token in DRYDOCK_TOKEN,
else the admin token in $DRYDOCK_HOME/admin.token (default ./.drydock).`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  const client = new DrydockClient({ url: serviceUrl(process.env), token: cliToken(process.env) });
  // Ctrl-C, SIGTERM and a closed pipe give back what the command holds, then exit 128 + n.
  if (command !== "serve") installTerminationHandlers();
  switch (command) {
    // The service and the log tools load the database and the server: only when they run.
    case "serve":
      await (await import("./serve")).serve();
      return -1;
    case "lease":
      return leaseCommand(client, args);
    case "release":
      return releaseCommand(client, args);
    case "exec":
      return execCommand(client, args);
    case "put":
      return putCommand(client, args);
    case "get":
      return getCommand(client, args);
    case "history":
      return historyCommand(client, args);
    case "http":
      return httpCommand(client, args);
    case "ls":
      return lsCommand(client, args);
    case "hold":
      return holdCommand(client, args);
    case "unhold":
      return unholdCommand(client, args);
    case "token":
      return tokenCommand(client, args);
    case "auth":
      return authCommand(client, args);
    case "explain":
      return explainCommand(client, args, console.log);
    case "replay": {
      const [{ withLogDatabase }, { replayCommand }] = await Promise.all([import("./log-database"), import("./replay-cli")]);
      return withLogDatabase(process.env, (database) => replayCommand(database, args, console.log));
    }
    case "verify": {
      const [{ withLogDatabase }, { verifyCommand }] = await Promise.all([import("./log-database"), import("./verify-cli")]);
      return withLogDatabase(process.env, (database) => verifyCommand(database, args, console.log));
    }
    case "ec2": {
      const [{ withLogDatabase }, { ec2Command }] = await Promise.all([import("./log-database"), import("./ec2-cli")]);
      return withLogDatabase(process.env, (database) => ec2Command(database, args, console.log));
    }
    case "simulate": {
      const [{ withLogDatabase }, { simulateCommand }] = await Promise.all([import("./log-database"), import("./simulate-cli")]);
      return withLogDatabase(process.env, (database) => simulateCommand(database, args, console.log));
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(usage);
      return command === undefined ? 2 : 0;
    default:
      console.error(`drydock: unknown command ${command}\n\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    // Ending on Ctrl-C, SIGTERM or a closed pipe: what failed was cut off on purpose (termination.ts exits).
    if (isTerminating()) return;
    if (error instanceof DrydockError) {
      for (const line of describeApiError(error)) console.error(line);
      if (error.status === 401) console.error("drydock: set DRYDOCK_TOKEN, or run where $DRYDOCK_HOME/admin.token is");
    } else if (error instanceof TypeError && String(error.message).includes("fetch failed")) console.error(`drydock: cannot reach ${serviceUrl(process.env)}: is the service running?`);
    else console.error(`drydock: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
