/**
 * What the edge adapters (Cloudflare Workers, Vercel Edge) share. On those hosts the environment
 * comes with the request (Workers' bindings), there are no files and no Deno KV, and nothing runs
 * between requests, so:
 *
 * - the region opens once per isolate, on the first request, from the environment that request
 *   brings, on Upstash unless MESH_STORE says otherwise (a failed start is retried by the next
 *   request, and answered 500 problem+json meanwhile);
 * - each request hands its `waitUntil` the background work pending when it answers
 *   (src/compose/background.ts), which the host would otherwise cut short;
 * - its jobs run on a cron trigger: each trigger runs them on a `TimerScheduler` for
 *   MESH_JOB_WINDOW_MS, then stops them (a trigger a minute and a 50 s window keep them running
 *   five sixths of the time; docs/deploy.md says what that costs the mesh). With
 *   MESH_JOBS_TOKEN, requests drive them instead (issue 13): a trigger is one round of the due
 *   jobs (`TickScheduler.tick`), as `POST /v1/jobs/tick` is, and pushes run the due lease,
 *   heartbeat and fan-out jobs (docs/operations.md).
 */
import { configSummary, type RegionConfig, regionConfig } from "../compose/config.ts";
import type { RegionHost } from "../compose/host.ts";
import { type OpenRegion, openRegion } from "../compose/open_region.ts";
import { type JobStats, type Scheduler, TimerScheduler } from "../mesh/scheduler.ts";
import { Problem } from "../region/problem.ts";
import { configureLog, log } from "../telemetry/log.ts";
import { names } from "../telemetry/mod.ts";

/** The part of a request's context (Workers' `ExecutionContext`, Vercel's) edge hosts share. */
export interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void;
}

/** Registers a region's jobs on a scheduler (workers/region_jobs.ts's `scheduleRegionJobs`). */
export type ScheduleJobs = (scheduler: Scheduler, region: OpenRegion) => void;

/** A region opened on an edge host, with the configuration it was opened from. */
export interface EdgeOpened {
  readonly region: OpenRegion;
  readonly config: RegionConfig;
}

/** The text variables of an environment (Workers' bindings may hold other things too). */
export function textVariables(env: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env ?? {})) {
    if (typeof value === "string") out[name] = value;
  }
  return out;
}

/** One region per isolate on an edge host, opened by the first request. */
export class EdgeRegion {
  readonly #host: RegionHost;
  readonly #jobs: ScheduleJobs;
  #opening: Promise<EdgeOpened> | null = null;

  constructor(host: RegionHost, jobs: ScheduleJobs) {
    this.#host = host;
    this.#jobs = jobs;
  }

  /** The region, opened from `env` on first use; a failed start is tried again on the next. */
  open(env: unknown): Promise<EdgeOpened> {
    this.#opening ??= this.#start(textVariables(env)).catch((error) => {
      this.#opening = null;
      throw error;
    });
    return this.#opening;
  }

  /** Answers a request with the region's app (`env` and `ctx` reach it as Hono's `c.env`). */
  async fetch(request: Request, env: unknown, ctx?: unknown): Promise<Response> {
    let opened: EdgeOpened;
    try {
      opened = await this.open(env);
    } catch (error) {
      // The operator's message (it may name files and variables) goes to the log, not the client.
      console.error((error as Error).message);
      return new Problem("internal-error", "The region could not start: its log says why")
        .toResponse(new URL(request.url).pathname);
    }
    // deno-lint-ignore no-explicit-any
    const answer = await opened.region.app.fetch(request, env as any, ctx as any);
    // What the request started and did not wait for must finish, or it never will here.
    (ctx as Partial<WaitUntil> | undefined)?.waitUntil?.(opened.region.background.settled());
    return answer;
  }

  /**
   * Runs the region's jobs on timers for `windowMs` (default MESH_JOB_WINDOW_MS), then stops
   * them and answers what each did (runs, skips, failures). The body of a cron trigger.
   */
  async runJobs(env: unknown, windowMs?: number): Promise<Record<string, JobStats>> {
    const { region, config } = await this.open(env);
    // Requests drive the jobs (MESH_JOBS_TOKEN): a trigger is one bounded round of the due ones.
    if (config.MESH_JOBS_TOKEN !== undefined) {
      await region.jobs.tick();
      return region.jobs.stats();
    }
    const scheduler = new TimerScheduler({
      telemetry: region.telemetry,
      log: log.with({ region: config.MESH_REGION }),
    });
    this.#jobs(scheduler, region);
    await new Promise((resolve) => setTimeout(resolve, windowMs ?? config.MESH_JOB_WINDOW_MS));
    await scheduler.stop();
    return scheduler.stats();
  }

  async #start(env: Record<string, string>): Promise<EdgeOpened> {
    const config = regionConfig({ MESH_STORE: "upstash", ...env });
    configureLog({ level: config.MESH_LOG_LEVEL });
    const region = await openRegion(config, this.#host);
    if (config.MESH_JOBS_TOKEN !== undefined) this.#jobs(region.jobs, region);
    log.info(names.EVENT_REGION_STARTED, {
      ...configSummary(config),
      region: config.MESH_REGION,
      runtime: this.#host.runtime,
      store: region.store.kind,
      zone: region.mesh?.self.zone ?? null,
      regions: region.mesh?.topology.regions.length ?? 1,
    });
    return { region, config };
  }
}
