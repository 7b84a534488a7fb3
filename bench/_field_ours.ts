/**
 * Our side of bench/field.ts, on real region processes (`main.ts`, Deno KV each):
 *
 * - propagation between three regions, each in a zone of its own (so each leads its zone and
 *   sends to the other two directly, as three gateway-joined clusters do), peers talking directly
 *   or, with a delay, through the chaos proxies of test/support (HTTP, `delayMs` on every link,
 *   each way: the request and its answer, as the TCP delay proxies of the others hold both):
 *   - push → visible: one delta pushed to region a, timed until region b's view holds it (the
 *     bench long-polls b's view with its last ETag, answered as soon as the view changes);
 *   - topic → SSE: one topic message published on a, timed to its event on an SSE subscriber of b;
 * - durable writes into one region: pre-signed deltas pushed over HTTP, counted when the region
 *   answers `accepted` (verified and committed to its store);
 * - bare Ed25519 verification of the same deltas (WebCrypto, imported keys, no checks), in this
 *   process: the cost every accepted delta carries.
 */
import { Agent } from "../src/client/agent.ts";
import { AgentKey } from "../src/crypto/agent_key.ts";
import type { Envelope } from "../src/client/mesh_client.ts";
import { decodeBase64Url } from "../src/protocol/base64url.ts";
import { signedMessage } from "../src/protocol/delta.ts";
import { topicChannel } from "../src/protocol/message_kinds.ts";
import { utf8Encode } from "../src/protocol/utf8.ts";
import { TestMesh } from "../test/support/mesh_processes.ts";
import { startRegionProcess } from "../test/support/region_process.ts";
import { sseEvents } from "../test/support/sse.ts";
import { Arrivals, type Latency, measure, textPayload } from "./_field_stats.ts";
import { benchAuthors, signNext } from "./_signed_batches.ts";
import { ViewWaiter } from "./_view_wait.ts";

const REGIONS = [{ id: "a-1", zone: "a" }, { id: "b-1", zone: "b" }, { id: "c-1", zone: "c" }];
const TOPIC = "field.x";

export interface OurPropagation {
  readonly push: Latency;
  readonly topic: Latency;
  /** Mean time of one request for b's view (a long-poll's wait included), in ms. */
  readonly viewRequestMs: number;
}

/** Push → visible and topic → SSE from region a to region b, every link delayed `delayMs`. */
export async function ourPropagation(
  delayMs: number,
  samples: number,
  warmup: number,
): Promise<OurPropagation> {
  const mesh = await TestMesh.start({ regions: REGIONS, directLinks: delayMs === 0 });
  const stop = new AbortController();
  try {
    await mesh.until(
      "every region leads its zone and reaches the others",
      async () =>
        (await mesh.statuses()).every((s) => s.leader?.self === true && s.reachable.length === 3),
      30_000,
    );
    if (delayMs > 0) mesh.setLinks({ delayMs, answerDelayMs: delayMs });
    const [a, b] = [mesh.region("a-1").url, mesh.region("b-1").url];
    const agent = new Agent(AgentKey.generate());

    const channel = `field-${crypto.randomUUID().slice(0, 8)}`;
    const views = new ViewWaiter();
    const push = await measure(samples, warmup, async (i) => {
      const body = JSON.stringify({
        deltas: [agent.sign(channel, [{ op: "set", key: "p", value: textPayload(i) }])],
      });
      const started = performance.now();
      const pushed = fetch(`${a}/v1/deltas`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      }).then((r) => r.json());
      const url = `${b}/v1/channels/${channel}`;
      if (!await views.until(url, (view) => view.deltas >= i + 1, 5_000)) return null;
      const seen = performance.now();
      const results = (await pushed).results;
      if (results?.[0]?.status !== "accepted") throw new Error(`push: ${JSON.stringify(results)}`);
      return seen - started;
    });

    const arrivals = new Arrivals();
    const subscribed = Promise.withResolvers<void>();
    void follow(`${b}/v1/topics/${TOPIC}/events`, stop.signal, subscribed.resolve, (data) => {
      arrivals.arrive(Number(String(data).split(":")[0]));
    });
    await subscribed.promise;
    const topic = await measure(samples, warmup, async (i) => {
      const message = await signTopic(agent, i);
      const started = performance.now();
      const response = await fetch(`${a}/v1/topics/${TOPIC}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ messages: [message] }),
      });
      const { results } = await response.json();
      if (results?.[0]?.status !== "accepted") throw new Error(`topic: ${JSON.stringify(results)}`);
      const at = await arrivals.expect(i);
      return at === null ? null : at - started;
    });
    return { push, topic, viewRequestMs: +(views.requestMs / views.requests).toFixed(2) };
  } finally {
    stop.abort();
    await mesh.stop();
  }
}

function signTopic(agent: Agent, i: number): Promise<Envelope> {
  return agent.signNextOf(topicChannel(TOPIC), "topic", (seq, ts, lc) => ({
    seq,
    topic: TOPIC,
    ts,
    lc,
    ttl: 3_600_000,
    data: textPayload(i),
  }));
}

async function follow(
  url: string,
  signal: AbortSignal,
  ready: () => void,
  onMessage: (data: unknown) => void,
): Promise<void> {
  try {
    const response = await fetch(url, { signal });
    for await (const { event, data } of sseEvents(response)) {
      if (event === "ready") ready();
      else if (event === "message") onMessage(JSON.parse(data).data);
    }
  } catch { /* aborted */ }
}

export interface OurWrites {
  readonly perSecond: number;
  readonly deltas: number;
  /** Deltas per push request. */
  readonly batch: number;
  /** Push requests in flight at once. */
  readonly concurrency: number;
  /** Deltas the region did not answer `accepted`. */
  readonly notAccepted: number;
  /** Why, by status or HTTP answer: deltas each. */
  readonly refusals: Record<string, number>;
}

/** Deltas of PAYLOAD_BYTES of payload each, from 200 authors, in one channel. */
async function signedDeltas(count: number): Promise<Envelope[]> {
  const authors = await benchAuthors(200);
  const channel = `durable-${crypto.randomUUID().slice(0, 8)}`;
  const out: Envelope[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await signNext(authors[i % authors.length], channel, [
        { op: "set", key: `k${i % 50}`, value: textPayload(i) },
      ]),
    );
  }
  return out;
}

/** Accepted (verified and stored) deltas per second into one region with Deno KV. */
export async function ourWrites(
  dir: string,
  runs: { deltas: number; batch: number; concurrency: number }[],
): Promise<OurWrites[]> {
  const region = await startRegionProcess({ MESH_REGION: "field", MESH_DATA: `${dir}/region` });
  try {
    const results: OurWrites[] = [];
    let refusals: Record<string, number> = {};
    const refused = (why: string, n: number) => void (refusals[why] = (refusals[why] ?? 0) + n);
    const push = async (deltas: Envelope[]) => {
      const response = await fetch(`${region.url}/v1/deltas`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ deltas }),
      });
      if (!response.ok) {
        const problem = await response.json().catch(() => ({}));
        refused(`HTTP ${response.status} ${problem.title ?? ""}`.trim(), deltas.length);
        return 0;
      }
      const { results } = await response.json() as { results: { status: string }[] };
      for (const r of results) if (r.status !== "accepted") refused(r.status, 1);
      return results.filter((r) => r.status === "accepted").length;
    };
    await push((await signedDeltas(200)).slice(0)); // warm-up: the store, the caches
    for (const run of runs) {
      const envelopes = await signedDeltas(run.deltas);
      const batches: Envelope[][] = [];
      for (let i = 0; i < envelopes.length; i += run.batch) {
        batches.push(envelopes.slice(i, i + run.batch));
      }
      let next = 0, accepted = 0;
      refusals = {};
      const started = performance.now();
      await Promise.all(Array.from({ length: run.concurrency }, async () => {
        while (next < batches.length) {
          const stored = await push(batches[next++]); // not `accepted += await`: it reads first
          accepted += stored;
        }
      }));
      const seconds = (performance.now() - started) / 1000;
      results.push({
        perSecond: Math.round(accepted / seconds),
        ...run,
        notAccepted: run.deltas - accepted,
        refusals,
      });
    }
    return results;
  } finally {
    await region.stop();
  }
}

/** Bare WebCrypto Ed25519 verifications per second (100 at a time), of deltas as above. */
export async function bareVerifies(count: number): Promise<number> {
  const envelopes = await signedDeltas(count);
  const keys = new Map<string, CryptoKey>();
  const items: {
    key: CryptoKey;
    sig: Uint8Array<ArrayBuffer>;
    message: Uint8Array<ArrayBuffer>;
  }[] = [];
  for (const e of envelopes) {
    const author = JSON.parse(e.body).author as string;
    if (!keys.has(author)) {
      const raw = decodeBase64Url(author)!;
      keys.set(author, await crypto.subtle.importKey("raw", raw, "Ed25519", false, ["verify"]));
    }
    items.push({
      key: keys.get(author)!,
      sig: decodeBase64Url(e.sig)!,
      message: signedMessage(utf8Encode(e.body)),
    });
  }
  const verifyAll = async () => {
    for (let i = 0; i < items.length; i += 100) {
      const ok = await Promise.all(
        items.slice(i, i + 100).map((x) =>
          crypto.subtle.verify("Ed25519", x.key, x.sig, x.message)
        ),
      );
      if (ok.includes(false)) throw new Error("a signature did not verify");
    }
  };
  await verifyAll(); // warm-up
  const started = performance.now();
  await verifyAll();
  return Math.round(items.length / ((performance.now() - started) / 1000));
}
