import { Ec2Error } from "./ec2-error";
import type { QueryParams } from "./query-params";

/** The actions the emulator answers. */
export const EC2_ACTIONS = ["RunInstances", "DescribeInstances", "TerminateInstances", "CreateTags", "GetConsoleOutput", "DescribeInstanceStatus"] as const;
export type Ec2Action = (typeof EC2_ACTIONS)[number];

export function isEc2Action(value: string): value is Ec2Action {
  return (EC2_ACTIONS as readonly string[]).includes(value);
}

/** Which requests an error fault applies to (all that are given must match; RunInstances' own parameters). */
export interface FaultCondition {
  instanceType?: string;
  subnetId?: string;
  imageId?: string;
  /** `spot` or `on-demand` (InstanceMarketOptions.MarketType, absent: on-demand). */
  market?: "spot" | "on-demand";
}

export interface ErrorFaultOptions {
  /** How many matching calls fail (default 1); Infinity: until cleared. */
  times?: number;
  message?: string;
  when?: FaultCondition;
}

interface ErrorFault {
  action: Ec2Action;
  code: string;
  message?: string;
  when?: FaultCondition;
  remaining: number;
}

/** What the next launched instances suffer, one fault per instance, in launch order. */
export interface LaunchFaults {
  /** Milliseconds between launch and running, instead of the emulator's boot delay. */
  bootDelayMs?: number;
  /** The console never prints the host key block. */
  hideHostKey: boolean;
  /** Milliseconds after running when the instance dies (goes to terminated, its sshd killed). */
  dieAfterMs?: number;
}

/**
 * Faults injected into the emulator, consumed as calls and launches happen. Tests set them
 * through these methods; the standalone emulator through its control endpoint (control.ts).
 */
export class FaultPlan {
  private errors: ErrorFault[] = [];
  private lost = new Map<Ec2Action, number>();
  private slowBoots: number[] = [];
  private hiddenHostKeys = 0;
  private deaths: number[] = [];

  /** The next `times` calls of `action` (that match `when`) fail with EC2's error `code`. */
  failNext(action: Ec2Action, code: string, options: ErrorFaultOptions = {}): void {
    this.errors.push({ action, code, message: options.message, when: options.when, remaining: options.times ?? 1 });
  }

  /** The next `times` calls of `action` are throttled (RequestLimitExceeded, HTTP 503). */
  throttle(action: Ec2Action, times = 1): void {
    this.failNext(action, "RequestLimitExceeded", { times });
  }

  /**
   * The next `times` calls of `action` do their work (RunInstances launches), then the
   * connection is destroyed without an answer: the client cannot know whether it happened.
   */
  loseResponse(action: Ec2Action, times = 1): void {
    this.lost.set(action, (this.lost.get(action) ?? 0) + times);
  }

  /** The next `times` instances launched take `delayMs` to boot. */
  slowBoot(delayMs: number, times = 1): void {
    for (let i = 0; i < times; i++) this.slowBoots.push(delayMs);
  }

  /** The next `times` instances launched never print their host key on the console. */
  hideHostKey(times = 1): void {
    this.hiddenHostKeys += times;
  }

  /** The next `times` instances launched die `afterMs` after they are running. */
  dieWhileRunning(afterMs: number, times = 1): void {
    for (let i = 0; i < times; i++) this.deaths.push(afterMs);
  }

  clear(): void {
    this.errors = [];
    this.lost.clear();
    this.slowBoots = [];
    this.hiddenHostKeys = 0;
    this.deaths = [];
  }

  /** The error this call fails with, if a fault says so; consumes one of its calls. */
  takeError(action: Ec2Action, params: QueryParams): Ec2Error | null {
    const fault = this.errors.find((f) => f.action === action && f.remaining > 0 && matches(f.when, params));
    if (!fault) return null;
    fault.remaining--;
    this.errors = this.errors.filter((f) => f.remaining > 0);
    return new Ec2Error(fault.code, fault.message);
  }

  takeLostResponse(action: Ec2Action): boolean {
    const left = this.lost.get(action) ?? 0;
    if (left <= 0) return false;
    this.lost.set(action, left - 1);
    return true;
  }

  takeLaunchFaults(): LaunchFaults {
    const hide = this.hiddenHostKeys > 0;
    if (hide) this.hiddenHostKeys--;
    return { bootDelayMs: this.slowBoots.shift(), hideHostKey: hide, dieAfterMs: this.deaths.shift() };
  }
}

function matches(when: FaultCondition | undefined, params: QueryParams): boolean {
  if (!when) return true;
  if (when.instanceType !== undefined && params.string("InstanceType") !== when.instanceType) return false;
  if (when.subnetId !== undefined && params.string("SubnetId") !== when.subnetId) return false;
  if (when.imageId !== undefined && params.string("ImageId") !== when.imageId) return false;
  if (when.market !== undefined && (params.string("InstanceMarketOptions.MarketType") === "spot" ? "spot" : "on-demand") !== when.market) return false;
  return true;
}
