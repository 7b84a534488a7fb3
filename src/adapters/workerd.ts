/**
 * The Cloudflare Workers adapter (workerd): a module worker's `fetch` and `scheduled` handlers
 * over one region per isolate on Upstash. The configuration is the worker's variables and secrets
 * (`env`); the client's address is `CF-Connecting-IP`, which Cloudflare's edge sets on every
 * request (a client cannot choose it); a Cron Trigger runs the jobs for a window (edge.ts).
 */
import type { Context } from "hono";
import { EdgeRegion, type ScheduleJobs, type WaitUntil } from "./edge.ts";

/** What workerd passes a handler beside the request: the part of `ExecutionContext` used here. */
export type WorkerdContext = WaitUntil;

/** What a Cron Trigger passes the `scheduled` handler (`ScheduledController`). */
export interface WorkerdController {
  readonly cron: string;
  readonly scheduledTime: number;
}

/** The address Cloudflare's edge gives the request (Hono's `hono/cloudflare-workers` conninfo). */
export function cfConnectingIp(c: Context): string | undefined {
  return c.req.header("cf-connecting-ip");
}

/** The module worker: `export default workerdRegion(scheduleRegionJobs)`. */
export function workerdRegion(jobs: ScheduleJobs) {
  const edge = new EdgeRegion({ runtime: "workerd", remoteAddress: cfConnectingIp }, jobs);
  return {
    fetch(request: Request, env: unknown, ctx: WorkerdContext): Promise<Response> {
      return edge.fetch(request, env, ctx);
    },
    /** Each Cron Trigger runs the jobs for MESH_JOB_WINDOW_MS; a failure fails the trigger. */
    async scheduled(_controller: WorkerdController, env: unknown, _ctx: WorkerdContext) {
      await edge.runJobs(env);
    },
  };
}
