/**
 * The region's jobs driven by requests instead of timers (issue 13), for hosts where nothing runs
 * between requests and the platform's scheduled trigger can only call in: Deno Deploy's cron,
 * Workers' Cron Triggers (`scheduled` → `tick()` under `ctx.waitUntil`), Vercel Cron or any
 * external cron (`POST /v1/jobs/tick`, src/compose/jobs_route.ts). Agent traffic does part of the
 * work on the way: a push runs the due lease, heartbeat and fan-out jobs (`tick(PUSH_JOBS)`), so
 * a region that is written to keeps its leader, its view of its peers and its fan-out going
 * without waiting for the next trigger.
 *
 * `tick()` runs one round: every job whose interval has passed since it last ran in this
 * instance (every job, on an instance's first round), one after another in the order they were
 * registered — the lease first, so the jobs after it know who leads. A round is bounded by the
 * jobs' own bounds (a fan-out drain, one anti-entropy session, one heartbeat per peer with its
 * request timeout) and idempotent: a job another round is running is waited for, not run twice,
 * and one that just ran is not due.
 */
import {
  type Job,
  JobRunner,
  type JobStats,
  runnerOptions,
  type Scheduler,
  type SchedulerOptions,
} from "./scheduler.ts";

/**
 * The jobs a push runs when they are due (workers/mesh_jobs.ts names them): take or renew the
 * lease, heartbeat the peers, drain fan-out. Anti-entropy, the heavy one, waits for the trigger.
 */
export const PUSH_JOBS: readonly string[] = ["leader-lease", "heartbeat", "fan-out"];

/** What one round did with each job, by name. */
export interface TickReport {
  /** Ran to its end. */
  readonly ran: string[];
  /** Threw (logged and counted as a failed tick; the next round tries again). */
  readonly failed: string[];
  /** Another round was running it: waited for, not run again. */
  readonly skipped: string[];
  /** Its interval had not passed since it last ran here. */
  readonly notDue: string[];
  /** How long the round took, in ms. */
  readonly ms: number;
}

export interface TickSchedulerOptions extends SchedulerOptions {
  /** The clock deciding what is due, in ms. Default `Date.now`. */
  readonly now?: () => number;
}

interface TickJob {
  readonly runner: JobRunner;
  readonly intervalMs: number;
  /** When it last started here (null: never). */
  lastMs: number | null;
}

export class TickScheduler implements Scheduler {
  readonly #jobs = new Map<string, TickJob>();
  readonly #options: ReturnType<typeof runnerOptions>;
  readonly #now: () => number;
  /** Rounds under way (a push's runs beside the request that caused it). */
  readonly #rounds = new Set<Promise<TickReport>>();
  #stopped = false;

  constructor(options: TickSchedulerOptions = {}) {
    this.#options = runnerOptions(options);
    this.#now = options.now ?? Date.now;
  }

  /** Registers `job`; it runs in the rounds after `intervalMs` has passed since its last run. */
  every(name: string, intervalMs: number, job: Job): void {
    const runner = new JobRunner(name, job, "tick", this.#options);
    this.#jobs.set(name, { runner, intervalMs, lastMs: null });
  }

  /** The names of the jobs registered, in order. */
  get jobs(): string[] {
    return [...this.#jobs.keys()];
  }

  /**
   * Runs one round of the due jobs, of those named in `only` when given (unknown names are
   * ignored), in registration order; answers what each did. Never throws.
   */
  tick(only?: readonly string[]): Promise<TickReport> {
    const round = this.#round(only);
    this.#rounds.add(round);
    void round.finally(() => this.#rounds.delete(round));
    return round;
  }

  /** Resolves once every round under way has ended (for tests that step time). */
  async idle(): Promise<void> {
    while (this.#rounds.size > 0) await Promise.all(this.#rounds);
  }

  async #round(only?: readonly string[]): Promise<TickReport> {
    const started = performance.now();
    const report: TickReport = { ran: [], failed: [], skipped: [], notDue: [], ms: 0 };
    for (const [name, job] of this.#jobs) {
      if (only !== undefined && !only.includes(name)) continue;
      if (this.#stopped) break;
      const nowMs = this.#now();
      if (
        job.runner.running === null && job.lastMs !== null && nowMs - job.lastMs < job.intervalMs
      ) {
        report.notDue.push(name);
        continue;
      }
      const mine = job.runner.running === null;
      const failures = job.runner.stats.failures;
      if (mine) job.lastMs = nowMs;
      await job.runner.run();
      if (!mine) report.skipped.push(name);
      else if (job.runner.stats.failures > failures) report.failed.push(name);
      else report.ran.push(name);
    }
    return { ...report, ms: Math.round(performance.now() - started) };
  }

  stats(): Record<string, JobStats> {
    return Object.fromEntries([...this.#jobs].map(([n, j]) => [n, { ...j.runner.stats }]));
  }

  /** Starts no more jobs and waits for those running. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([...this.#jobs.values()].map((j) => j.runner.running));
  }
}
