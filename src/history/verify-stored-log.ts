import type { EventStore } from "../store/event-store";
import { LogVerifier, type FinishOptions, type VerifyReport } from "./verify-log";

export interface VerifyStoredLogOptions extends FinishOptions {
  batchSize?: number;
  onProgress?: (events: number) => void;
}

/**
 * The one entry point that checks a stored log (`drydock verify`, the concurrency tests): reads
 * it in global-position order, a batch at a time, through the incremental verifier, so a log
 * of any length is checked without holding it in memory.
 */
export async function verifyStoredLog(store: Pick<EventStore, "readByPosition">, options: VerifyStoredLogOptions = {}): Promise<VerifyReport> {
  const batchSize = options.batchSize ?? 5000;
  const verifier = new LogVerifier();
  let count = 0;
  for (let after = 0; ; ) {
    const batch = await store.readByPosition(after, batchSize);
    if (batch.length === 0) break;
    for (const e of batch) verifier.add(e);
    count += batch.length;
    after = batch.at(-1)!.globalPosition;
    options.onProgress?.(count);
  }
  return verifier.finish(options);
}
