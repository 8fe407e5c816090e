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
