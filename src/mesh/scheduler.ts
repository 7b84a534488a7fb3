/**
 * One scheduling interface for the region's periodic jobs, so the same job code runs everywhere:
 *
 * - `TimerScheduler`: a long-lived process (`deno task start`); timers, any interval.
 * - `KvQueueScheduler`: Deno Deploy and other serverless hosts, where nothing runs between
 *   requests. Deno.cron ticks at most once a minute, so sub-minute jobs run on self-rescheduling
 *   queue messages (`kv.enqueue(msg, { delay })`); a once-a-minute cron re-seeds any chain that
 *   broke (a lost message, a crash between run and re-enqueue).
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

/** Shared bookkeeping: no overlap, counted skips and failures, a span per tick. */
class JobRunner {
  readonly stats: JobStats = { runs: 0, skipped: 0, failures: 0, lastError: null };
  running: Promise<void> | null = null;
  readonly #attrs: Record<string, string>;
  readonly #telemetry: Telemetry;
  readonly #log: Logger;
  readonly #throttle: LogThrottle;

  constructor(
    readonly name: string,
    readonly job: Job,
    scheduler: "timer" | "queue",
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
function runnerOptions(options: SchedulerOptions) {
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

/** Queue message of the KV scheduler: which job, and which chain of ticks it belongs to. */
interface Tick {
  readonly meshJob: string;
  readonly chain: string;
}

/** The live chain of a job, kept in KV so that all isolates of a region share one chain. */
interface ChainRecord {
  readonly chain: string;
  readonly tickMs: number;
}

/** How often the cron re-seeds job chains, as a cron expression (Deno.cron's finest). */
export const RESEED_CRON = "* * * * *";
/** A chain that has not ticked for this many intervals is replaced by a new one. */
export const CHAIN_STALE_INTERVALS = 3;

/**
 * Exactly one chain of queue messages per job, across every isolate sharing the KV database:
 * the live chain's id is stored; a tick of any other chain drops itself instead of re-enqueuing,
 * so chains never multiply (a cold start or a re-seed while a slow chain is still alive would
 * otherwise add one each time).
 */
export class KvQueueScheduler implements Scheduler {
  readonly #kv: Deno.Kv;
  readonly #runners = new Map<string, { runner: JobRunner; intervalMs: number }>();
  readonly #options: ReturnType<typeof runnerOptions>;
  #stopped = false;
  #listening = false;

  constructor(kv: Deno.Kv, options: SchedulerOptions = {}) {
    this.#kv = kv;
    this.#options = runnerOptions(options);
  }

  every(name: string, intervalMs: number, job: Job): void {
    const runner = new JobRunner(name, job, "queue", this.#options);
    this.#runners.set(name, { runner, intervalMs });
    if (!this.#listening) {
      this.#listening = true;
      this.#kv.listenQueue((msg: unknown) => this.#onTick(msg));
      Deno.cron("mesh-reseed", RESEED_CRON, () => this.#reseed());
    }
    this.#startChainIfStale(name).catch((error) =>
      this.#options.log.error(names.EVENT_JOB_FAILED, { job: name, error, work: "start chain" })
    );
  }

  async #onTick(msg: unknown): Promise<void> {
    const { meshJob: name, chain } = (msg ?? {}) as Partial<Tick>;
    const entry = name === undefined ? undefined : this.#runners.get(name);
    if (this.#stopped || entry === undefined || chain === undefined) return;
    const key = ["mesh-scheduler", name!];
    const current = await this.#kv.get<ChainRecord>(key);
    if (current.value?.chain !== chain) return; // a superseded chain ends here
    await entry.runner.run();
    await this.#kv.set(key, { chain, tickMs: Date.now() } satisfies ChainRecord);
    await this.#kv.enqueue({ meshJob: name!, chain } satisfies Tick, { delay: entry.intervalMs });
  }

  /** Starts a new chain for `name` when none has ticked for CHAIN_STALE_INTERVALS intervals. */
  async #startChainIfStale(name: string): Promise<void> {
    const entry = this.#runners.get(name)!;
    const key = ["mesh-scheduler", name];
    const current = await this.#kv.get<ChainRecord>(key);
    if (
      current.value !== null &&
      Date.now() - current.value.tickMs <= CHAIN_STALE_INTERVALS * entry.intervalMs
    ) return;
    const chain = crypto.randomUUID();
    const swapped = await this.#kv.atomic().check(current)
      .set(key, { chain, tickMs: Date.now() } satisfies ChainRecord).commit();
    if (swapped.ok) await this.#kv.enqueue({ meshJob: name, chain } satisfies Tick);
  }

  async #reseed(): Promise<void> {
    for (const name of this.#runners.keys()) await this.#startChainIfStale(name);
  }

  stats(): Record<string, JobStats> {
    return Object.fromEntries([...this.#runners].map(([n, e]) => [n, { ...e.runner.stats }]));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([...this.#runners.values()].map((e) => e.runner.running));
  }
}
