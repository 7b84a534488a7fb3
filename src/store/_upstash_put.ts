/**
 * The write path of `UpstashStore.putDeltas`: one `PUT_SCRIPT` call per channel, the calls of a
 * request in one `/pipeline` request (layout and guarantees in `upstash_store.ts`).
 */
import { REPLAY_GUARD_TTL_SECONDS } from "./_upstash_options.ts";
import { isNoScript, type UpstashRunner } from "./_upstash_runner.ts";
import { PUT_SCRIPT } from "./_upstash_scripts.ts";
import { assertStorable, type Call, parsePutReply, planRequests } from "./_upstash_wire.ts";
import { assertOrigin } from "./_store_args.ts";
import { LEGACY_LOG_SHARD, logShardFor, randomDataShard } from "./region_log.ts";
import {
  type DeltaOrigin,
  type PutOutcome,
  type StoredDelta,
  StoreUnavailableError,
} from "./region_store.ts";

/**
 * How one instance's delta writes went. Each script call runs atomically in redis, so a write
 * never loses a race and is never retried for one: only a script redis lost is sent again.
 */
export interface UpstashPutStats {
  /** HTTP requests sent to store deltas (one per `/pipeline` of script calls). */
  requests: number;
  /** Script calls in them (one per channel per request). */
  scriptCalls: number;
  /** Script calls resent with EVAL because redis did not know the script (NOSCRIPT). */
  resent: number;
}

/**
 * The hash of one log shard's entries (`<key>:n` is its counter). The legacy shard keeps the
 * name of the one log stores had before it was sharded.
 */
export function upstashLogKey(prefix: string, shard: number): string {
  return shard === LEGACY_LOG_SHARD ? `${prefix}{~region}:log` : `${prefix}{~region}:log:${shard}`;
}

export class UpstashDeltaWriter {
  readonly #run: UpstashRunner;
  readonly #prefix: string;
  readonly #putBytesMax: number;
  readonly #stats: UpstashPutStats = { requests: 0, scriptCalls: 0, resent: 0 };
  /**
   * The data shard this instance logs to. Redis runs one script at a time, so instances never
   * lose a race here and need not move; the shards only keep the layout one for every store.
   */
  readonly #shard = randomDataShard();

  constructor(run: UpstashRunner, prefix: string, putBytesMax: number) {
    this.#run = run;
    this.#prefix = prefix;
    this.#putBytesMax = putBytesMax;
  }

  /** How this instance's delta writes went since it opened (a copy). */
  get stats(): UpstashPutStats {
    return { ...this.#stats };
  }

  async put(deltas: readonly StoredDelta[], origin: DeltaOrigin): Promise<PutOutcome[]> {
    assertOrigin(origin);
    deltas.forEach(assertStorable);
    const outcomes: PutOutcome[] = new Array(deltas.length);
    if (deltas.length === 0) return outcomes;
    const sha = await this.#run.sha(PUT_SCRIPT);
    for (const request of planRequests(deltas, this.#putBytesMax)) {
      const replies = await this.#run.guard(
        "store deltas",
        () => this.#runPut(request, origin, sha),
      );
      request.forEach((call, i) => {
        parsePutReply(replies[i], call.deltas.length).forEach((outcome, k) => {
          outcomes[call.indices[k]] = outcome;
        });
      });
    }
    return outcomes;
  }

  /** Sends one request of script calls (by SHA); resends with EVAL those redis did not know. */
  async #runPut(request: readonly Call[], origin: DeltaOrigin, sha: string): Promise<unknown[]> {
    const nonce = crypto.randomUUID();
    const region = `${this.#prefix}{~region}`;
    const invocations = request.map((call, i) => {
      const base = `${this.#prefix}{${call.channel}}`;
      const log = upstashLogKey(this.#prefix, logShardFor(call.channel, this.#shard));
      const keys = [
        `${base}:d`,
        `${base}:a`,
        `${base}:h`,
        `${base}:r:${nonce}:${i}`,
        `${log}:n`,
        log,
        `${region}:equivocations`,
        `${region}:equivocations:n`,
        `${upstashLogKey(this.#prefix, LEGACY_LOG_SHARD)}:n`,
      ];
      const args = [`${base}:s:`, String(REPLAY_GUARD_TTL_SECONDS), origin, call.channel];
      for (const d of call.deltas) args.push(d.id, d.author, String(d.seq), d.sig, d.body);
      return { keys, args };
    });
    this.#stats.requests++;
    this.#stats.scriptCalls += invocations.length;
    const replies = await this.#run.exec(
      invocations,
      (p, { keys, args }) => p.evalsha(sha, keys, args),
    );
    const missing = replies.flatMap((r, i) => isNoScript(r.error) ? [i] : []);
    if (missing.length > 0) {
      this.#stats.requests++;
      this.#stats.resent += missing.length;
      const again = await this.#run.exec(
        missing.map((i) => invocations[i]),
        (p, { keys, args }) => p.eval(PUT_SCRIPT, keys, args),
      );
      missing.forEach((i, k) => replies[i] = again[k]);
    }
    return replies.map((r) => {
      if (r.error) throw new StoreUnavailableError(`Upstash rejected a script call: ${r.error}`);
      return r.result;
    });
  }
}
