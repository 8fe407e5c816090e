/**
 * A background pass run on an interval (the EC2 leak reaper's, the lease leftover sweep's): a
 * slow pass is never overlapped by the next one, the timer does not keep the process alive, and
 * stop() waits for a pass in flight, so the database is not closed under it.
 */
export class PeriodicPass {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;

  /** `pass` reports its own failures; one that throws anyway is handed to `onError`. */
  constructor(
    private readonly pass: () => Promise<void>,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  /** Every `intervalMs`; `atStart`: also once now, in the background. */
  start(intervalMs: number, options: { atStart?: boolean } = {}): void {
    this.timer = setInterval(() => this.run(), intervalMs);
    this.timer.unref();
    if (options.atStart) this.run();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private run(): void {
    if (this.running) return;
    this.running = this.pass()
      .catch(this.onError)
      .finally(() => (this.running = null));
  }
}
