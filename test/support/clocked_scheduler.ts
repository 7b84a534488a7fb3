/**
 * The timer scheduler's rule on a simulated clock, for in-process mesh tests whose jobs must run
 * concurrently (a job that hangs while the others go on): a job runs again `intervalMs` after its
 * last run started, or at once when that run ended later; it never overlaps itself. The test
 * moves the clock and calls `runDue()`; nothing runs between.
 */
import type { Job, JobStats, Scheduler } from "../../src/mesh/scheduler.ts";

interface ClockedJob {
  readonly job: Job;
  readonly intervalMs: number;
  nextMs: number;
  running: Promise<void> | null;
  readonly stats: JobStats;
}

export class ClockedScheduler implements Scheduler {
  readonly #jobs = new Map<string, ClockedJob>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  every(name: string, intervalMs: number, job: Job): void {
    const stats = { runs: 0, skipped: 0, failures: 0, lastError: null };
    this.#jobs.set(name, { job, intervalMs, nextMs: this.#now(), running: null, stats });
  }

  /** Starts every job that is due now and not running (does not wait for them). */
  runDue(): void {
    const startedMs = this.#now();
    for (const j of this.#jobs.values()) {
      if (j.running !== null || startedMs < j.nextMs) continue;
      j.running = j.job().then(
        () => void j.stats.runs++,
        (error) => {
          j.stats.failures++;
          j.stats.lastError = String(error);
        },
      ).finally(() => {
        j.running = null;
        j.nextMs = Math.max(startedMs + j.intervalMs, this.#now());
      });
    }
  }

  stats(): Record<string, JobStats> {
    return Object.fromEntries([...this.#jobs].map(([n, j]) => [n, { ...j.stats }]));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#jobs.values()].map((j) => j.running));
  }
}
