/**
 * `POST /v1/jobs/tick` (issue 13): one round of the region's due jobs (`TickScheduler.tick`) for
 * a platform's cron, or anything else that can send an HTTP request once a minute, on hosts
 * where nothing runs between requests. Off unless `MESH_JOBS_TOKEN` is set (the route then does
 * not exist: 404); on, it answers only a request with `Authorization: Bearer <token>` (else 401
 * problem+json, nothing run). Idempotent and bounded: a round while another runs waits for the
 * jobs it is running, jobs that ran within their interval are not due, and each job bounds its
 * own work. Answers 200 with what each job did: `{"ran","failed","skipped","notDue","ms"}`.
 */
import { Hono } from "hono";
import type { TickReport } from "../mesh/tick_scheduler.ts";
import { allowOnly } from "../region/app.ts";
import { Problem } from "../region/problem.ts";
import { bearerMatches } from "./metrics_route.ts";

/** The route's path. */
export const JOBS_TICK_PATH = "/v1/jobs/tick";

/** The route, running `tick` for requests bearing `token`. */
export function jobsRoute(token: string, tick: () => Promise<TickReport>): Hono {
  const app = new Hono();
  app.post(JOBS_TICK_PATH, async (c) => {
    if (!bearerMatches(c.req.header("authorization"), token)) {
      throw new Problem(
        "token-required",
        `POST ${JOBS_TICK_PATH} takes Authorization: Bearer <MESH_JOBS_TOKEN>`,
        { "www-authenticate": 'Bearer realm="jobs"' },
      );
    }
    return c.json(await tick(), 200, { "cache-control": "no-store" });
  });
  allowOnly(app, JOBS_TICK_PATH, "POST");
  return app;
}
