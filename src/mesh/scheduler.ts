/**
 * One scheduling interface for the region's periodic jobs, so the same job code runs everywhere:
 *
 * - `TimerScheduler`: a long-lived process (`deno task start`); timers, any interval. Hosts whose
 *   jobs start on a cron trigger (Workers, Vercel Edge) run one for a window on each trigger.
 * - `KvQueueScheduler` (src/adapters/kv_queue_scheduler.ts): Deno Deploy, on Deno KV queue
 *   messages re-seeded by a cron.
 *
 * A job never overlaps itself; a tick that comes while the previous run is still going is counted
 * as skipped. Errors are caught, counted and logged: a periodic job must never die. Each tick is a
 * span of its own (`mesh.job.tick`, the root of the job's spans) and counts in `mesh.job.ticks`.
 */
import {
  createTelemetry,
  log as rootLog,
  type Logger,
  names,
  type Telemetry,
} from "../telemetry/mod.ts";
import { LogThrottle } from "../telemetry/log.ts";
import { detached } from "../telemetry/trace_context.ts";

export type Job = () => Promise<void>;

export interface JobStats {
  runs: number;
  skipped: number;
  failures: number;
  lastError: string | null;
}

export interface Scheduler {
  /** Runs `job` every `intervalMs` from now on. */
  every(name: string, intervalMs: number, job: Job): void;
  /** Per-job counters. */
  stats(): Record<string, JobStats>;
  /** Stops scheduling and waits for running jobs to finish. */
  stop(): Promise<void>;
}

export interface SchedulerOptions {
  /** Spans and counters of the ticks. Default: instruments of the global providers. */
  readonly telemetry?: Telemetry;
  /** Where failed ticks are logged (one line per job per 10 s). Default: the root logger. */
  readonly log?: Logger;
}

/** Shared bookkeeping of every scheduler: no overlap, counted skips and failures, a span per tick. */
export class JobRunner {
  readonly stats: JobStats = { runs: 0, skipped: 0, failures: 0, lastError: null };
  running: Promise<void> | null = null;
  readonly #attrs: Record<string, string>;
  readonly #telemetry: Telemetry;
  readonly #log: Logger;
  readonly #throttle: LogThrottle;

  constructor(
    readonly name: string,
    readonly job: Job,
    scheduler: "timer" | "queue" | "tick",
    o: Required<SchedulerOptions> & { throttle: LogThrottle },
  ) {
    this.#attrs = { [names.ATTR_JOB]: name, [names.ATTR_JOB_SCHEDULER]: scheduler };
    this.#telemetry = o.telemetry;
    this.#log = o.log;
    this.#throttle = o.throttle;
  }

  run(): Promise<void> {
    if (this.running !== null) {
      this.stats.skipped++;
      this.#count("skipped");
      return this.running;
    }
    // A tick is a trace of its own, whatever request or tick happened to schedule it.
    const tick = detached(() => this.#telemetry.inSpan(names.SPAN_JOB_TICK, this.#attrs, this.job));
    this.running = tick.then(
      () => {
        this.stats.runs++;
        this.#count("ran");
      },
      (error) => {
        this.stats.failures++;
        this.stats.lastError = (error as Error)?.message ?? String(error);
        this.#count("failed");
        const suppressed = this.#throttle.pass(this.name, Date.now());
        if (suppressed !== null) {
          this.#log.error(names.EVENT_JOB_FAILED, { job: this.name, error, suppressed });
        }
      },
    ).finally(() => this.running = null);
    return this.running;
  }

  #count(outcome: "ran" | "skipped" | "failed"): void {
    this.#telemetry.jobTicks.add(1, { ...this.#attrs, [names.ATTR_JOB_OUTCOME]: outcome });
  }
}

/** The options with their defaults, shared by a scheduler's runners. */
export function runnerOptions(options: SchedulerOptions) {
  return {
    telemetry: options.telemetry ?? createTelemetry(),
    log: options.log ?? rootLog,
    throttle: new LogThrottle(),
  };
}

export class TimerScheduler implements Scheduler {
  readonly #runners = new Map<string, JobRunner>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #options: ReturnType<typeof runnerOptions>;
  #stopped = false;

  constructor(options: SchedulerOptions = {}) {
    this.#options = runnerOptions(options);
  }

  every(name: string, intervalMs: number, job: Job): void {
    const runner = new JobRunner(name, job, "timer", this.#options);
    this.#runners.set(name, runner);
    const loop = async () => {
      if (this.#stopped) return;
      const started = performance.now();
      await runner.run();
      if (this.#stopped) return;
      const wait = Math.max(0, intervalMs - (performance.now() - started));
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        loop();
      }, wait);
      this.#timers.add(timer);
    };
    loop();
  }

  stats(): Record<string, JobStats> {
    return Object.fromEntries([...this.#runners].map(([n, r]) => [n, { ...r.stats }]));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await Promise.all([...this.#runners.values()].map((r) => r.running));
  }
}
