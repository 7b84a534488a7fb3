/**
 * The serving side of a bulk copy (`POST /v1/peer/bootstrap`, docs/protocol.md §26): any instance
 * answers a checked region message from a region of the topology with one page of this region's
 * log — the envelopes of up to `limit` entries from the cursor on, within a byte bound — signed
 * and bound to the request like every answer. What one page may cost is bounded: one read of the
 * log's heads, a log page read per shard it reaches, one record read per entry, BOOTSTRAP_PAGE_BYTES_MAX of
 * envelopes; pages are charged to the asking region's token bucket in the store, and an instance
 * serves at most BOOTSTRAP_SERVE_CONCURRENT pages at once. It only reads: epoch fencing does not
 * apply (a deposed leader reading pages changes nothing), the nonce is claimed as for any message.
 */
import { Hono } from "hono";
import type { AgentKey } from "../crypto/agent_key.ts";
import type { VerifyFn } from "../protocol/result.ts";
import { utf8ByteLength } from "../protocol/utf8.ts";
import { allowOnly } from "../region/app.ts";
import { Problem } from "../region/problem.ts";
import { readTextBody, requireJson } from "../region/read_body.ts";
import { retryAfterSeconds } from "../guard/rate_limiter.ts";
import { type RegionStore, type StoredDelta, takeTokens } from "../store/region_store.ts";
import { LOG_SHARDS } from "../store/region_log.ts";
import { names, type Telemetry } from "../telemetry/mod.ts";
import { continueTrace, TRACEPARENT_HEADER } from "../telemetry/trace_context.ts";
import {
  BOOTSTRAP_KIND,
  BOOTSTRAP_PAGE_BYTES_MAX,
  BOOTSTRAP_PATH,
  type LogCursor,
  type PageAnswer,
  type PageRequest,
  pageRequestSchema,
} from "./bootstrap_page.ts";
import {
  answerHead,
  checkRegionMessage,
  refusalProblem,
  REGION_MESSAGE_BYTES_MAX,
  ReplayGuard,
  SIGNATURE_HEADER,
  signRegionAnswer,
} from "./region_message.ts";
import type { RegionInfo, Topology } from "./topology.ts";

/** Pages one instance serves at once; more answer 429 with Retry-After. */
export const BOOTSTRAP_SERVE_CONCURRENT = 2;
/** Pages per second one asking region may sustain (its token bucket in the store). */
export const BOOTSTRAP_PAGES_PER_S = 50;
/** Pages one asking region may ask at once. */
export const BOOTSTRAP_PAGES_BURST = 100;
/** Record reads in flight while one page is read. */
export const BOOTSTRAP_READS_IN_FLIGHT = 256;

export interface BootstrapServerDeps {
  readonly self: RegionInfo;
  readonly topology: Topology;
  readonly key: AgentKey;
  readonly store: RegionStore;
  readonly verify: VerifyFn;
  readonly now: () => number;
  readonly telemetry: Telemetry;
}

export class BootstrapServer {
  readonly #d: BootstrapServerDeps;
  readonly #replay = new ReplayGuard();
  #serving = 0;

  constructor(deps: BootstrapServerDeps) {
    this.#d = deps;
  }

  /** Answers one page request; throws Problem for a refused one (never a 500 for bad input). */
  async onPage(
    body: string,
    signature: string | null,
  ): Promise<{ body: string; signature: string }> {
    const { telemetry, self, store } = this.#d;
    const pages = (outcome: string, peer: string) =>
      telemetry.bootstrapPages.add(1, {
        [names.ATTR_REGION]: self.id,
        [names.ATTR_PEER]: peer,
        [names.ATTR_BOOTSTRAP_OUTCOME]: outcome,
      });
    const checked = await checkRegionMessage(body, signature, {
      kind: BOOTSTRAP_KIND,
      topology: this.#d.topology,
      self: self.id,
      nowMs: this.#d.now(),
      replay: this.#replay,
      schema: pageRequestSchema,
      verify: this.#d.verify,
      admitEpoch: () => Promise.resolve(true),
      claimNonce: (key, ttlMs) => store.claimNonce(key, ttlMs, this.#d.now()),
    });
    if (!checked.ok) {
      throw refusalProblem(checked.reason, checked.detail);
    }
    const request = checked.message;
    if (this.#serving >= BOOTSTRAP_SERVE_CONCURRENT) {
      pages("busy", request.from);
      throw new Problem("rate-limited", "this instance is serving other pages", {
        "retry-after": "1",
      });
    }
    this.#serving++;
    try {
      const grant = await takeTokens(
        store,
        `bootstrap:${request.from}`,
        1,
        BOOTSTRAP_PAGES_PER_S,
        BOOTSTRAP_PAGES_BURST,
        this.#d.now(),
      );
      if (!grant.allowed) {
        pages("rate_limited", request.from);
        const retry = String(retryAfterSeconds(grant.retryAfterMs));
        throw new Problem("rate-limited", "too many bootstrap pages", { "retry-after": retry });
      }
      const attrs = { [names.ATTR_REGION]: self.id, [names.ATTR_PEER]: request.from };
      const page = await telemetry.inSpan(names.SPAN_BOOTSTRAP_SERVE, attrs, async (span) => {
        const page = await readPage(store, request);
        span.setAttributes({ [names.ATTR_PUSH_DELTAS]: page.deltas.length });
        return page;
      });
      pages("served", request.from);
      return await signRegionAnswer((b) => this.#d.key.signAsync(b), {
        ...answerHead(request, body),
        ...page,
      });
    } finally {
      this.#serving--;
    }
  }
}

/**
 * One page of `store`'s log from `request.cursor`: shards in order, each from the cursor to its
 * end as the heads read first say, at most `request.limit` entries and BOOTSTRAP_PAGE_BYTES_MAX of
 * envelopes (at least one envelope, whatever its size). `next` is after the last entry examined.
 */
export async function readPage(store: RegionStore, request: PageRequest): Promise<PageAnswer> {
  const heads = await store.logHeads();
  const logHead = heads.reduce((sum, n) => sum + n, 0);
  const deltas: { body: string; sig: string }[] = [];
  let cursor: LogCursor = request.cursor;
  let bytes = 0;
  while (cursor.shard < LOG_SHARDS) {
    const room = request.limit - deltas.length;
    if (room <= 0) return { deltas, next: cursor, done: false, logHead };
    if (heads[cursor.shard] <= cursor.after) {
      cursor = { shard: cursor.shard + 1, after: 0 };
      continue;
    }
    const log = await store.listLog(cursor.shard, cursor.after, room);
    const records = await readRecords(store, log.entries);
    for (const [i, entry] of log.entries.entries()) {
      const record = records[i];
      if (record !== null) {
        const envelope = { body: record.body, sig: record.sig };
        const size = utf8ByteLength(JSON.stringify(envelope)) + 1;
        if (deltas.length > 0 && bytes + size > BOOTSTRAP_PAGE_BYTES_MAX) {
          return { deltas, next: cursor, done: false, logHead };
        }
        deltas.push(envelope);
        bytes += size;
      }
      cursor = { shard: cursor.shard, after: entry.n };
    }
    if (log.entries.length === 0) cursor = { shard: cursor.shard + 1, after: 0 };
  }
  return {
    deltas,
    next: { shard: LOG_SHARDS - 1, after: heads[LOG_SHARDS - 1] },
    done: true,
    logHead,
  };
}

async function readRecords(
  store: RegionStore,
  entries: readonly { channel: string; id: string }[],
): Promise<(StoredDelta | null)[]> {
  const out: (StoredDelta | null)[] = [];
  for (let i = 0; i < entries.length; i += BOOTSTRAP_READS_IN_FLIGHT) {
    const chunk = entries.slice(i, i + BOOTSTRAP_READS_IN_FLIGHT);
    out.push(...await Promise.all(chunk.map((e) => store.getDelta(e.channel, e.id))));
  }
  return out;
}

/** The route of `server` as a Hono app, for the composition root to mount beside meshRoutes(). */
export function bootstrapRoutes(server: BootstrapServer): Hono {
  const app = new Hono();
  app.use((c, next) => continueTrace(c.req.header(TRACEPARENT_HEADER), next));
  app.post(BOOTSTRAP_PATH, async (c) => {
    requireJson(c.req.raw);
    const body = await readTextBody(c.req.raw, REGION_MESSAGE_BYTES_MAX);
    const answer = await server.onPage(body, c.req.header(SIGNATURE_HEADER) ?? null);
    return c.body(answer.body, 200, {
      "content-type": "application/json",
      [SIGNATURE_HEADER]: answer.signature,
    });
  });
  allowOnly(app, BOOTSTRAP_PATH, "POST");
  return app;
}
