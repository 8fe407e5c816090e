import v8 from "node:v8";
import { runInNewContext } from "node:vm";

// Forced collections before each sample, so that what is measured is what is kept alive, not
// garbage a collection may or may not have freed yet. V8 frees ArrayBuffers it found dead on a
// background thread, after the collection: hence the pause and the second one.
v8.setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;

/** This process's memory, after collecting what is no longer reachable. */
export async function liveMemory(): Promise<{ rss: number; external: number }> {
  collect();
  await new Promise((r) => setTimeout(r, 50));
  collect();
  const { rss, external } = process.memoryUsage();
  return { rss, external };
}

/** The most this process's live memory grew above `before`, sampled every 100 ms, `samples` times. */
export async function growthOver(before: { rss: number; external: number }, samples: number): Promise<{ rss: number; external: number }> {
  const growth = { rss: 0, external: 0 };
  for (let i = 0; i < samples; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await liveMemory();
    growth.rss = Math.max(growth.rss, now.rss - before.rss);
    growth.external = Math.max(growth.external, now.external - before.external);
  }
  return growth;
}
