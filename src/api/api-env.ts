import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Actor } from "../commands/command-context";

/** What the request middleware puts on every request's context for the route handlers. */
export interface ApiEnv {
  Variables: {
    requestId: string;
    /** Recorded on every event a request appends; its `actor` also owns the leases it asks for. */
    actor: Actor;
  };
}

export type ApiApp = OpenAPIHono<ApiEnv>;
export type ApiContext = Context<ApiEnv>;
