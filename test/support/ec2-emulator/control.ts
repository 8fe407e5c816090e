import type { IncomingMessage, ServerResponse } from "node:http";
import type { Ec2Emulator } from "./emulator";
import { isEc2Action, type FaultCondition } from "./faults";

/**
 * The standalone emulator's control endpoint, beside the EC2 API on the same port (the SDK only
 * ever posts to `/`):
 *
 *   GET  /_emulator/state                       calls per action, instances ever launched, live instances
 *   POST /_emulator/faults  {"action":"RunInstances","code":"InsufficientInstanceCapacity","times":2,"when":{"instanceType":"t3.micro"}}
 *                           {"action":"DescribeInstances","throttle":3}
 *                           {"action":"RunInstances","loseResponse":1}
 *                           {"slowBootMs":5000,"times":1} {"hideHostKey":1} {"dieAfterMs":2000,"times":1}
 *   POST /_emulator/instances/<id>/kill         the instance dies now
 *   DELETE /_emulator/faults                    clears every fault
 */
export function controlHandler(emulator: Ec2Emulator, req: IncomingMessage, res: ServerResponse, body: string): boolean {
  const url = req.url ?? "/";
  if (!url.startsWith("/_emulator/")) return false;
  const reply = (status: number, value: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(`${JSON.stringify(value)}\n`);
  };
  try {
    if (req.method === "GET" && url === "/_emulator/state") {
      const byAction: Record<string, number> = {};
      for (const call of emulator.callLog) byAction[call.action] = (byAction[call.action] ?? 0) + 1;
      reply(200, {
        calls: byAction,
        launched: emulator.launchedCount,
        instances: emulator.instances().map((i) => ({ instanceId: i.instanceId, state: i.state, address: i.address, tags: Object.fromEntries(i.tags) })),
      });
      return true;
    }
    if (req.method === "DELETE" && url === "/_emulator/faults") {
      emulator.faults.clear();
      reply(200, { cleared: true });
      return true;
    }
    const kill = /^\/_emulator\/instances\/([^/]+)\/kill$/.exec(url);
    if (req.method === "POST" && kill) {
      emulator.killInstance(kill[1]!);
      reply(200, { killed: kill[1] });
      return true;
    }
    if (req.method === "POST" && url === "/_emulator/faults") {
      addFault(emulator, JSON.parse(body || "{}") as Record<string, unknown>);
      reply(200, { added: true });
      return true;
    }
    reply(404, { error: `no control route ${req.method} ${url}` });
  } catch (error) {
    reply(400, { error: error instanceof Error ? error.message : String(error) });
  }
  return true;
}

function addFault(emulator: Ec2Emulator, fault: Record<string, unknown>): void {
  const times = typeof fault.times === "number" ? fault.times : 1;
  const action = fault.action;
  const needAction = () => {
    if (typeof action !== "string" || !isEc2Action(action)) throw new Error(`action: not an emulated action: ${JSON.stringify(action)}`);
    return action;
  };
  if (typeof fault.code === "string") emulator.faults.failNext(needAction(), fault.code, { times, when: fault.when as FaultCondition | undefined, message: fault.message as string | undefined });
  else if (typeof fault.throttle === "number") emulator.faults.throttle(needAction(), fault.throttle);
  else if (typeof fault.loseResponse === "number") emulator.faults.loseResponse(needAction(), fault.loseResponse);
  else if (typeof fault.slowBootMs === "number") emulator.faults.slowBoot(fault.slowBootMs, times);
  else if (typeof fault.hideHostKey === "number") emulator.faults.hideHostKey(fault.hideHostKey);
  else if (typeof fault.dieAfterMs === "number") emulator.faults.dieWhileRunning(fault.dieAfterMs, times);
  else throw new Error("a fault is one of: code, throttle, loseResponse, slowBootMs, hideHostKey, dieAfterMs");
}
