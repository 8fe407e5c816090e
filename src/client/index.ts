/**
 * `drydock/client`: the typed client of Drydock's HTTP API (docs/typed-client.md).
 *
 *   import { DrydockClient, DrydockError } from "drydock/client";
 */
export { DrydockClient, type ExecStream } from "./drydock-client";
export { DrydockError, type CallOptions, type HttpOptions } from "./http";
export type * from "./wire-types";
