/**
 * The scheduler of Deno Deploy, part of the Deno adapter: nothing runs there between requests,
 * and Deno.cron ticks at most once a minute, so sub-minute jobs run on self-rescheduling Deno KV
 * queue messages (`kv.enqueue(msg, { delay })`); a once-a-minute cron re-seeds any chain that
 * broke (a lost message, a crash between run and re-enqueue). Same `Scheduler` contract as
 * `TimerScheduler` (src/mesh/scheduler.ts): no overlap, counted skips and failures, a span a tick.
 */
import {
  type Job,
  JobRunner,
  type JobStats,
  runnerOptions,
  type Scheduler,
  type SchedulerOptions,
} from "../mesh/scheduler.ts";
import { names } from "../telemetry/mod.ts";

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
