/**
 * The Vercel Edge adapter: an Edge Function (`export default` of `(request, context)`) over one
 * region per isolate on Upstash. The configuration is the project's environment variables
 * (`process.env`, which Vercel's edge runtime provides); the client's address is `X-Real-IP`,
 * which Vercel's edge sets; Vercel Cron calls `GET /api/cron` with `Authorization: Bearer
 * <CRON_SECRET>`, and that request runs the jobs for a window (edge.ts), streaming a line when it
 * starts (an Edge Function must begin its answer within 25 s) and the jobs' counters at the end.
 */
import type { Context } from "hono";
import { bearerMatches } from "../compose/metrics_route.ts";
import { Problem } from "../region/problem.ts";
import type { JobStats } from "../mesh/scheduler.ts";
import { EdgeRegion, type ScheduleJobs, type WaitUntil } from "./edge.ts";

/** The path Vercel Cron calls (deploy/vercel/config.json's `crons`). */
export const CRON_PATH = "/api/cron";

/** What Vercel passes beside the request (the part used here). */
export type VercelEdgeContext = WaitUntil;

/** The address Vercel's edge gives the request (Hono's `hono/vercel` conninfo). */
export function xRealIp(c: Context): string | undefined {
  return c.req.header("x-real-ip");
}

/** `process.env` where the runtime has one (Vercel's edge runtime does), else nothing. */
function processEnv(): unknown {
  return (globalThis as { process?: { env?: unknown } }).process?.env ?? {};
}

/** The Edge Function: `export default vercelEdgeRegion(scheduleRegionJobs)`. */
export function vercelEdgeRegion(jobs: ScheduleJobs, env: () => unknown = processEnv) {
  const edge = new EdgeRegion({ runtime: "vercel-edge", remoteAddress: xRealIp }, jobs);
  return async (request: Request, context?: VercelEdgeContext): Promise<Response> => {
    if (new URL(request.url).pathname !== CRON_PATH) return edge.fetch(request, env(), context);
    let config;
    try {
      ({ config } = await edge.open(env()));
    } catch {
      return edge.fetch(request, env(), context); // answers why the region is not there
    }
    if (request.method !== "GET") {
      return new Problem("method-not-allowed", `${request.method} is not allowed here; use GET`, {
        allow: "GET",
      }).toResponse(CRON_PATH);
    }
    if (
      config.CRON_SECRET === undefined ||
      !bearerMatches(request.headers.get("authorization") ?? undefined, config.CRON_SECRET)
    ) {
      return new Problem("token-required", `GET ${CRON_PATH} takes Bearer <CRON_SECRET>`, {
        "www-authenticate": 'Bearer realm="cron"',
      }).toResponse(CRON_PATH);
    }
    return streamedRun(config.MESH_JOB_WINDOW_MS, () => edge.runJobs(env()));
  };
}

/** NDJSON: `{"windowMs"}` at once, then `{"jobs"}` (or `{"error"}`) when the window is over. */
function streamedRun(windowMs: number, run: () => Promise<Record<string, JobStats>>): Response {
  const encoder = new TextEncoder();
  const line = (value: unknown) => encoder.encode(`${JSON.stringify(value)}\n`);
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(line({ windowMs }));
      try {
        controller.enqueue(line({ jobs: await run() }));
      } catch (error) {
        controller.enqueue(line({ error: (error as Error).message }));
      }
      controller.close();
    },
  });
  return new Response(body, {
    headers: { "content-type": "application/x-ndjson", "cache-control": "no-store" },
  });
}
