import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { isProcessRunning } from "../service/process-running";

/**
 * PGlite has no postmaster to refuse a second process: two processes on one data directory
 * would both write to it and corrupt it. A lock file beside the directory, holding the pid of
 * the process that has it open, makes the second one fail with a clear message instead (a
 * `drydock replay` while the service runs, two `npm start`s). A lock left by a process that is
 * gone is taken over.
 */
export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`the PGlite database in ${dataDir} is in use by process ${pid}: stop the Drydock service first (PGlite allows one process at a time)`);
  }
}

/** Takes the lock of `dataDir`; returns its release. */
export function lockDataDir(dataDir: string): () => void {
  const path = `${dataDir}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const pid = Number(readFileSync(path, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0 && isProcessRunning(pid)) throw new DataDirInUseError(dataDir, pid);
      rmSync(path, { force: true });
    }
  }
  throw new Error(`could not lock ${dataDir}`);
}
