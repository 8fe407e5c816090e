/**
 * bench/lease-client: the load of bench/lease-cycle, run in a process of its own as a CI system's
 * clients would be, so that the service's process spends its CPU on the service alone. Forked by
 * lease-cycle with IPC: it is sent the service's address, one token per client and the phase's
 * length, loops acquire (POST /v1/leases?wait=30) and release over keep-alive node:http, and sends
 * back every cycle's and acquire's latency. It says "ready" first, so that the service's CPU is
 * counted from the order to the report and not for this process's start.
 *
 * With `warmupSeconds`, it first loops for that long without recording anything, then says
 * "warmed" and starts the measured phase: the figures are then of the service as it runs for
 * days, with its code (and this process's) compiled by the JIT, not of its first seconds.
 */
import http from "node:http";
import { postJson } from "./http-post";

export interface ClientOrder {
  base: string;
  tokens: string[];
  seconds: number;
  /** Seconds of cycles before the measured phase, recorded nowhere (0: none). */
  warmupSeconds: number;
  /** Cycles slower than this many ms are reported by lease id (--explain-slow); null: none. */
  explainSlowMs: number | null;
}

export interface ClientReport {
  latencies: number[];
  acquires: number[];
  slow: { id: string; took: number }[];
  /** The first refused answer, if any: the phase stops at it. */
  error: string | null;
  /** This process's CPU in the measured phase (ms, user and system). */
  cpuMs: number;
}

const agent = new http.Agent({ keepAlive: true });

function post(url: string, token: string, body: string): Promise<{ status: number; json: unknown }> {
  return postJson(agent, url, { "content-type": "application/json", authorization: `Bearer ${token}` }, body);
}

async function run(order: ClientOrder): Promise<ClientReport> {
  const latencies: number[] = [];
  const acquires: number[] = [];
  const slow: ClientReport["slow"] = [];
  const cycle = async (token: string): Promise<void> => {
    const t = performance.now();
    const answer = await post(`${order.base}/v1/leases?wait=30`, token, '{"resourceType":"host"}');
    const lease = answer.json as { id: string; status: string };
    if (lease.status !== "active") throw new Error(`the acquire answered ${answer.status} ${JSON.stringify(answer.json)}`);
    acquires.push(performance.now() - t);
    const release = await post(`${order.base}/v1/leases/${lease.id}/release`, token, "{}");
    if (release.status !== 200) throw new Error(`the release answered ${release.status} ${JSON.stringify(release.json)}`);
    const took = performance.now() - t;
    latencies.push(took);
    if (order.explainSlowMs !== null && took > order.explainSlowMs) slow.push({ id: lease.id, took });
  };
  const loop = async (seconds: number) => {
    const deadline = performance.now() + seconds * 1000;
    await Promise.all(
      order.tokens.map(async (token) => {
        while (performance.now() < deadline) await cycle(token);
      }),
    );
  };
  try {
    if (order.warmupSeconds > 0) {
      await loop(order.warmupSeconds);
      latencies.length = 0;
      acquires.length = 0;
      slow.length = 0;
      await new Promise<void>((resolve) => process.send!("warmed", () => resolve()));
    }
    const before = process.cpuUsage();
    await loop(order.seconds);
    const cpu = process.cpuUsage(before);
    return { latencies, acquires, slow, error: null, cpuMs: (cpu.user + cpu.system) / 1000 };
  } catch (error) {
    return { latencies, acquires, slow, error: error instanceof Error ? error.message : String(error), cpuMs: 0 };
  } finally {
    agent.destroy();
  }
}

process.once("message", (order: ClientOrder) => {
  void run(order).then((report) => process.send!(report, () => process.exit(0)));
});
process.send!("ready");
