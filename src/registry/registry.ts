/**
 * One instance's registry: the discovery index kept in the store (`RegistryIndexer`), liveness
 * (`Liveness`), and what triggers them — deltas stored by a push or relayed by a peer
 * (`onStored`), a request (`catchUpForRequest`) and the periodic job (`tick`). Everything durable
 * is in the store, so any number of instances share one index.
 */
import { REGISTRY_CHANNEL } from "../protocol/agent_card.ts";
import { type RegionStore, StoreUnavailableError } from "../store/region_store.ts";
import { createTelemetry, log, type Logger, names, type Telemetry } from "../telemetry/mod.ts";
import { LogThrottle } from "../telemetry/log.ts";
import { type CatchUp, RegistryIndexer } from "./indexer.ts";
import { Liveness } from "./liveness.ts";

/** Default age of `lastSeen` after which an agent is reported stale, in ms (10 minutes). */
export const AGENT_STALE_MS_DEFAULT = 600_000;
/** Pages of arrivals a push or a request indexes before it goes on (the job does the rest). */
export const INDEX_PAGES_PER_TRIGGER = 3;
/** Pages of arrivals one tick of the periodic job indexes. */
export const INDEX_PAGES_PER_TICK = 50;
/** Default period of the registry's job, in ms. */
export const REGISTRY_JOB_MS_DEFAULT = 1_000;

export interface RegistryOptions {
  /** This region's id: the `region` of an agent's own pushes. */
  readonly region: string;
  readonly store: RegionStore;
  /** Wall clock in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** Age of `lastSeen` past which an agent is `stale`, in ms. Default 10 minutes. */
  readonly staleMs?: number;
  /**
   * The authorities (`host[:port]`, lowercase) agents reach this region by, which a signed agent
   * request must name in `@authority` (so a request signed for one region is refused by the
   * others). Empty: any (a standalone region that knows no public URL). Default empty.
   */
  readonly authorities?: readonly string[];
  readonly telemetry?: Telemetry;
  /**
   * Told of work a request starts and does not wait for (liveness writes), which an edge host
   * must keep the request alive for (src/compose/background.ts). Default: nobody.
   */
  readonly background?: (work: Promise<unknown>) => void;
}

/** A delta as the registry needs it: where it was stored, by whom, and its signed time. */
export interface NotedDelta {
  readonly channel: string;
  readonly author: string;
  readonly ts: number;
}

type Trigger = "push" | "relay" | "request" | "job";

export class Registry {
  readonly region: string;
  readonly store: RegionStore;
  readonly now: () => number;
  readonly staleMs: number;
  readonly authorities: readonly string[];
  readonly telemetry: Telemetry;
  readonly indexer: RegistryIndexer;
  readonly liveness: Liveness;
  readonly #base: Record<string, string>;
  readonly #log: Logger;
  /** Index failures repeat on every push while the store is down: one line per 10 s. */
  readonly #throttle = new LogThrottle();

  constructor(options: RegistryOptions) {
    this.region = options.region;
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.staleMs = options.staleMs ?? AGENT_STALE_MS_DEFAULT;
    this.authorities = (options.authorities ?? []).map((a) => a.toLowerCase());
    this.telemetry = options.telemetry ?? createTelemetry();
    this.indexer = new RegistryIndexer(options.store);
    this.#log = log.with({ region: this.region });
    this.liveness = new Liveness(options.store, this.#log, options.background);
    this.#base = { [names.ATTR_REGION]: this.region, [names.ATTR_STORE_KIND]: this.store.kind };
  }

  /** Attributes of every span and metric of the registry. */
  get base(): Record<string, string> {
    return this.#base;
  }

  /**
   * Notes deltas just stored: pushed by an agent here (`source` null) or relayed by region
   * `source`. Updates liveness and, when `_registry` deltas are among them, indexes them (so an
   * agent that announced finds its card at once). Never throws: what fails is left to the job.
   */
  async onStored(deltas: readonly NotedDelta[], source: string | null): Promise<void> {
    if (deltas.length === 0) return;
    this.liveness.note(deltas, source ?? this.region, this.now());
    if (!deltas.some((d) => d.channel === REGISTRY_CHANNEL)) return;
    try {
      await this.catchUp(source === null ? "push" : "relay", INDEX_PAGES_PER_TRIGGER);
    } catch (error) {
      this.#failed("index", error);
    }
  }

  /** Catches the index up a few pages before a request is answered; throws when the store does. */
  async catchUpForRequest(): Promise<CatchUp> {
    try {
      return await this.catchUp("request", INDEX_PAGES_PER_TRIGGER);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      // Anything else is the indexer's trouble, not the request's: answer from the index as it
      // stands (the job retries).
      this.#failed("index before a request", error);
      return { deltas: 0, applied: 0, done: false };
    }
  }

  /** Logs a failure the job retries (one line per `work` per 10 s, with the count held back). */
  #failed(work: string, error: unknown): void {
    const suppressed = this.#throttle.pass(work, Date.now());
    if (suppressed !== null) {
      this.#log.warn(names.EVENT_REGISTRY_FAILED, { work, error, suppressed });
    }
  }

  /** The periodic job: writes waiting liveness and indexes what arrived. */
  async tick(): Promise<void> {
    await this.liveness.flush(this.now());
    await this.catchUp("job", INDEX_PAGES_PER_TICK);
  }

  /** Indexes at most `pagesMax` pages of arrivals, in a span. */
  catchUp(trigger: Trigger, pagesMax = Infinity): Promise<CatchUp> {
    return this.telemetry.inSpan(
      names.SPAN_REGISTRY_INDEX,
      { ...this.#base, [names.ATTR_REGISTRY_TRIGGER]: trigger },
      async (span) => {
        const result = await this.indexer.catchUp(pagesMax);
        span.setAttributes({
          [names.ATTR_REGISTRY_DELTAS]: result.deltas,
          [names.ATTR_REGISTRY_DONE]: result.done,
        });
        const count = (outcome: string, n: number) => {
          if (n > 0) {
            this.telemetry.registryIndexed.add(n, {
              ...this.#base,
              [names.ATTR_REGISTRY_OUTCOME]: outcome,
            });
          }
        };
        count("applied", result.applied);
        count("superseded", result.deltas - result.applied);
        return result;
      },
    );
  }
}
