import { TooManyCommandsError } from "../domain/errors";
import type { CommandInterface, ExecOptions, ExecResult } from "../interfaces/command-interface";

export const DEFAULT_COMMAND_CONCURRENCY = 16;

/**
 * Caps how many commands each lease runs at once in this process, whatever the blueprint. A
 * command over the cap is refused before it starts (429), never queued: a client that floods a
 * lease learns at once, and the host never holds more of its processes than the cap allows.
 */
export class CommandConcurrency {
  private readonly running = new Map<string, number>();

  limit(leaseId: string, max: number, command: CommandInterface): CommandInterface {
    return {
      exec: async (argv: readonly string[], options?: ExecOptions): Promise<ExecResult> => {
        const now = this.running.get(leaseId) ?? 0;
        if (now >= max) throw new TooManyCommandsError(leaseId, max);
        this.running.set(leaseId, now + 1);
        try {
          return await command.exec(argv, options);
        } finally {
          const left = (this.running.get(leaseId) ?? 1) - 1;
          if (left <= 0) this.running.delete(leaseId);
          else this.running.set(leaseId, left);
        }
      },
    };
  }

  /** Commands the lease runs in this process now. */
  runningFor(leaseId: string): number {
    return this.running.get(leaseId) ?? 0;
  }
}
