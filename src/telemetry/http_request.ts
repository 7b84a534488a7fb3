/**
 * What every HTTP request of a region gets from telemetry, as a middleware (shaped like Hono's,
 * without importing it): the trace its `traceparent` names is continued (trace_context.ts), and
 * at level debug it is logged when answered. At the default level requests are not logged.
 */
import type { Logger } from "./log.ts";
import * as names from "./names.ts";
import { continueTrace, TRACEPARENT_HEADER } from "./trace_context.ts";

/** The parts of a request context the middleware reads (Hono's `Context` has them). */
export interface RequestContext {
  readonly req: {
    readonly method: string;
    readonly url: string;
    header(name: string): string | undefined;
  };
  readonly res: { readonly status: number };
}

/** The middleware; `logger` carries the region. */
export function requestTelemetry(logger: Logger) {
  return async (c: RequestContext, next: () => Promise<void>): Promise<void> => {
    const started = performance.now();
    await continueTrace(c.req.header(TRACEPARENT_HEADER), next);
    if (!logger.enabled("debug")) return;
    logger.debug(names.EVENT_HTTP_REQUEST, {
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  };
}
