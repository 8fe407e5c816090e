import { ApiError, DrydockClient } from "./api-client";
import { serviceUrl } from "./config";
import { execCommand } from "./exec-cli";
import { getCommand, historyCommand, leaseCommand, putCommand, releaseCommand } from "./lease-cli";
import { lsCommand } from "./ls-cli";
import { serve } from "./serve";

const usage = `drydock — lease hosts and working copies

  drydock serve                                  run the service (PORT, DATABASE_URL, DRYDOCK_HOME)
  drydock lease --type host [--wait[=S]] [--ttl S] [--attr k=v] [--blueprint ID]
  drydock release LEASE_ID...
  drydock exec LEASE_ID [--cwd DIR] [--timeout S] [--env K=V] -- COMMAND [ARGS...]
  drydock put LEASE_ID PATH [LOCAL_FILE]         write a file (stdin without LOCAL_FILE)
  drydock get LEASE_ID PATH                      read a file to stdout
  drydock history LEASE_ID                       the lease's events
  drydock ls [leases|resources|blueprints] [--status S] [--json]

The CLI talks to DRYDOCK_URL (default http://127.0.0.1:8080).`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  const client = new DrydockClient(serviceUrl(process.env));
  switch (command) {
    case "serve":
      await serve();
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
    case "ls":
      return lsCommand(client, args);
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
    if (error instanceof ApiError) console.error(`drydock: ${error.message} (${error.status} ${error.code})`);
    else if (error instanceof TypeError && String(error.message).includes("fetch failed")) console.error(`drydock: cannot reach ${serviceUrl(process.env)}: is the service running?`);
    else console.error(`drydock: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
