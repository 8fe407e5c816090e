import { ValidationError } from "../domain/errors";
import type { BlueprintImplementation } from "./blueprint";

/** The blueprint implementations this service knows, by kind. */
export class BlueprintRegistry {
  private readonly byKind = new Map<string, BlueprintImplementation>();

  constructor(implementations: readonly BlueprintImplementation[] = []) {
    for (const impl of implementations) this.register(impl);
  }

  register(impl: BlueprintImplementation): void {
    this.byKind.set(impl.kind, impl);
  }

  get(kind: string): BlueprintImplementation {
    const impl = this.byKind.get(kind);
    if (!impl) throw new ValidationError(`kind: unknown blueprint kind ${JSON.stringify(kind)}`, { field: "kind", known: this.kinds() });
    return impl;
  }

  has(kind: string): boolean {
    return this.byKind.has(kind);
  }

  kinds(): string[] {
    return [...this.byKind.keys()].sort();
  }

  /** The kinds whose resources get periodic health checks. */
  healthCheckedKinds(): string[] {
    return this.kinds().filter((kind) => this.byKind.get(kind)!.checkHealth !== undefined);
  }

  /** Lets every implementation release what it holds (connections) when the service stops. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.byKind.values()].map((impl) => impl.close?.()));
  }
}
