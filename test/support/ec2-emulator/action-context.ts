import type { Fleet } from "./fleet";

/** What an action handler works with. */
export interface ActionContext {
  fleet: Fleet;
  requestId: string;
  availabilityZone: string;
  /** The one key pair the emulator has (KeyName must be it, or absent). */
  keyName: string;
  /** Launch templates by id and by name; null: any template is accepted (an emulated image, t3.micro). */
  launchTemplates: ReadonlyArray<EmulatedLaunchTemplate> | null;
}

export interface EmulatedLaunchTemplate {
  id: string;
  name: string;
  imageId: string;
  instanceType: string;
}

/** Handlers answer with the inner XML of `<ActionResponse>` (after requestId). */
export type ActionHandler = (params: import("./query-params").QueryParams, context: ActionContext) => string;
