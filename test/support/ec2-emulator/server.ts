import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { ActionContext, ActionHandler } from "./action-context";
import { Ec2Error, errorDocument } from "./ec2-error";
import { isEc2Action, type Ec2Action, type FaultPlan } from "./faults";
import { createTags, describeInstanceStatus, describeInstances, getConsoleOutput, terminateInstances } from "./instance-actions";
import { QueryParams } from "./query-params";
import { runInstances } from "./run-instances";
import { responseDocument } from "./xml";

const HANDLERS: Readonly<Record<Ec2Action, ActionHandler>> = {
  RunInstances: runInstances,
  DescribeInstances: describeInstances,
  TerminateInstances: terminateInstances,
  CreateTags: createTags,
  GetConsoleOutput: getConsoleOutput,
  DescribeInstanceStatus: describeInstanceStatus,
};

/** One answered (or lost) call, in order: what the tests count. */
export interface CallRecord {
  action: string;
  /** EC2's error code when it failed; "lost" when the response was dropped. */
  outcome: "ok" | "lost" | { error: string };
  /** When it was answered (or dropped). */
  at: Date;
}

export interface Ec2ServerOptions {
  context: Omit<ActionContext, "requestId">;
  faults: FaultPlan;
  calls: CallRecord[];
  accessKeyIds: Set<string>;
  /** Other paths (the control endpoint); returns false when it does not handle the request. */
  control?: (req: IncomingMessage, res: ServerResponse, body: string) => boolean;
}

/**
 * The EC2 Query API over HTTP: `POST /` with a form body (`Action=…&Version=2016-11-15&…`) signed
 * with SigV4, as the SDK sends it. Signatures are not checked (any credentials do), but a request
 * must carry one, and the access key ids seen are kept so that a test can tell which credentials
 * a client used. Faults apply before the action runs, except a lost response, which runs the
 * action and then destroys the socket without a byte of answer.
 */
export function createEc2Server(options: Ec2ServerOptions): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      if (options.control?.(req, res, body)) return;
      handle(req, res, body, options);
    });
  });
}

function handle(req: IncomingMessage, res: ServerResponse, body: string, options: Ec2ServerOptions): void {
  const requestId = randomUUID();
  const query = req.method === "GET" ? (req.url ?? "").split("?")[1] ?? "" : body;
  const params = QueryParams.parse(query);
  const action = params.string("Action") ?? "";
  const answer = (status: number, xml: string) => {
    res.writeHead(status, { "content-type": "text/xml;charset=UTF-8", "x-amzn-requestid": requestId });
    res.end(xml);
  };
  const fail = (error: Ec2Error) => {
    options.calls.push({ action, outcome: { error: error.code }, at: new Date() });
    answer(error.status, errorDocument(error, requestId));
  };

  const credential = /Credential=([^/,\s]+)\//.exec(req.headers.authorization ?? "")?.[1];
  if (credential === undefined) return fail(new Ec2Error("AuthFailure", "AWS was not able to validate the provided access credentials", 401));
  options.accessKeyIds.add(credential);
  if (!isEc2Action(action)) return fail(new Ec2Error("InvalidAction", `The action ${action || "(none)"} is not valid for this web service.`));

  const injected = options.faults.takeError(action, params);
  if (injected) return fail(injected);
  let xml: string;
  try {
    xml = responseDocument(action, requestId, HANDLERS[action](params, { ...options.context, requestId }));
  } catch (error) {
    if (error instanceof Ec2Error) return fail(error);
    console.error(`[ec2-emulator] ${action} failed:`, error);
    return fail(new Ec2Error("InternalError"));
  }
  if (options.faults.takeLostResponse(action)) {
    options.calls.push({ action, outcome: "lost", at: new Date() });
    // The work is done; the client never hears of it (a dropped connection, a crashed proxy).
    req.socket.destroy();
    return;
  }
  options.calls.push({ action, outcome: "ok", at: new Date() });
  answer(200, xml);
}
