/**
 * Topic delivery, timed, between real region processes (eu-1 | us-1, each its own Deno KV,
 * direct links):
 * 1. Latency: messages published one at a time on eu-1; the time from the start of each publish
 *    to its SSE event on a subscriber of eu-1 (same region) and of us-1 (across regions).
 * 2. Fan-out: `BENCH_SUBSCRIBERS` SSE subscribers (default 1,000) held by eu-1 alone, all
 *    reading in this process; `BENCH_MESSAGES` messages (default 2,000) published as fast as the
 *    region accepts them (batches of 64); the publish rate, the deliveries per second until every
 *    subscriber has every message, drops, and eu-1's resident memory before and after.
 *
 *   deno run -A bench/topics.ts
 *
 * Prints one JSON object. The subscribers run in this process on the same 2 cores as the
 * regions, so phase 2 measures the machine as much as the region: read it with that in mind.
 */
import { Agent } from "../src/client/agent.ts";
import { AgentKey } from "../src/crypto/agent_key.ts";
import type { Envelope } from "../src/client/mesh_client.ts";
import { topicChannel } from "../src/protocol/message_kinds.ts";
import { TestMesh } from "../test/support/mesh_processes.ts";
import { sseEvents } from "../test/support/sse.ts";

const SAMPLES = Number(Deno.env.get("BENCH_SAMPLES") ?? 200);
const SUBSCRIBERS = Number(Deno.env.get("BENCH_SUBSCRIBERS") ?? 1_000);
const MESSAGES = Number(Deno.env.get("BENCH_MESSAGES") ?? 2_000);
const BATCH = 64;

const quantiles = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(2);
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) };
};

function sign(agent: Agent, topic: string, data: unknown): Promise<Envelope> {
  return agent.signNextOf(topicChannel(topic), "topic", (seq, ts, lc) => ({
    seq,
    topic,
    ts,
    lc,
    ttl: 3_600_000,
    data,
  }));
}

async function publish(url: string, topic: string, messages: Envelope[]) {
  const response = await fetch(`${url}/v1/topics/${topic}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages }),
  });
  const { results } = await response.json();
  return results.filter((r: { status: string }) => r.status === "accepted").length as number;
}

/** Follows an SSE stream, calling `onMessage(data)` per message and `onDropped()` on a drop. */
async function follow(
  url: string,
  onMessage: (data: { i: number }) => void,
  onDropped: () => void,
  ready: () => void,
  signal: AbortSignal,
  address = "10.0.0.1",
) {
  // Each subscriber is its own client (the regions trust X-Forwarded-For here): one address may
  // hold only TOPIC_SUBSCRIBERS_PER_ADDRESS_MAX subscriptions.
  const response = await fetch(url, { signal, headers: { "x-forwarded-for": address } });
  try {
    for await (const { event, data } of sseEvents(response)) {
      if (event === "ready") ready();
      else if (event === "dropped") onDropped();
      else if (event === "message") onMessage(JSON.parse(data).data);
    }
  } catch { /* aborted */ }
}

function rssMb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024);
}

async function latency(mesh: TestMesh) {
  const [eu, us] = [mesh.region("eu-1").url, mesh.region("us-1").url];
  const agent = new Agent(AgentKey.generate());
  const seen = { eu: new Map<number, number>(), us: new Map<number, number>() };
  const stop = new AbortController();
  let readyCount = 0;
  const readyAll = Promise.withResolvers<void>();
  for (const [where, url] of [["eu", eu], ["us", us]] as const) {
    follow(
      `${url}/v1/topics/lat.%3E/events`,
      (d) => seen[where].set(d.i, performance.now()),
      () => {
        throw new Error("latency subscriber dropped");
      },
      () => ++readyCount === 2 && readyAll.resolve(),
      stop.signal,
    );
  }
  await readyAll.promise;
  const messages = [];
  for (let i = 0; i < SAMPLES + 10; i++) messages.push(await sign(agent, "lat.x", { i }));
  const within: number[] = [], across: number[] = [];
  for (const [i, message] of messages.entries()) {
    const started = performance.now();
    await publish(eu, "lat.x", [message]);
    while (!seen.eu.has(i) || !seen.us.has(i)) await new Promise((r) => setTimeout(r, 1));
    if (i >= 10) {
      within.push(seen.eu.get(i)! - started);
      across.push(seen.us.get(i)! - started);
    }
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 10));
  }
  stop.abort();
  return { within_region_ms: quantiles(within), across_regions_ms: quantiles(across) };
}

async function fanOut(mesh: TestMesh) {
  const eu = mesh.region("eu-1");
  const rssBefore = rssMb(eu.process!.pid);
  const stop = new AbortController();
  const counts = new Array<number>(SUBSCRIBERS).fill(0);
  let dropped = 0, ready = 0, delivered = 0;
  const allReady = Promise.withResolvers<void>();
  for (let s = 0; s < SUBSCRIBERS; s++) {
    follow(
      `${eu.url}/v1/topics/fan.x/events`,
      () => {
        counts[s]++;
        delivered++;
      },
      () => dropped++,
      () => ++ready === SUBSCRIBERS && allReady.resolve(),
      stop.signal,
      `10.1.${s >> 8}.${s & 255}`,
    );
  }
  await allReady.promise;
  const rssHeld = rssMb(eu.process!.pid);
  const agent = new Agent(AgentKey.generate());
  const batches: Envelope[][] = [];
  for (let i = 0; i < MESSAGES; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(MESSAGES, i + BATCH); j++) {
      batch.push(await sign(agent, "fan.x", { i: j }));
    }
    batches.push(batch);
  }
  const started = performance.now();
  let accepted = 0;
  for (const batch of batches) accepted += await publish(eu.url, "fan.x", batch);
  const published = performance.now() - started;
  const deadline = performance.now() + 120_000;
  while (delivered + dropped * 0 < SUBSCRIBERS * MESSAGES && performance.now() < deadline) {
    if (counts.every((c) => c >= MESSAGES)) break;
    if (dropped > 0 && counts.every((c) => c >= MESSAGES || c === -1)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const done = performance.now() - started;
  const rssAfter = rssMb(eu.process!.pid);
  stop.abort();
  return {
    subscribers: SUBSCRIBERS,
    messages: MESSAGES,
    accepted,
    publish_per_s: Math.round(accepted / (published / 1000)),
    delivered,
    deliveries_per_s: Math.round(delivered / (done / 1000)),
    all_delivered_ms: Math.round(done),
    complete_subscribers: counts.filter((c) => c >= MESSAGES).length,
    dropped_subscribers: dropped,
    region_rss_mb: { idle: rssBefore, holding_subscribers: rssHeld, after: rssAfter },
  };
}

const mesh = await TestMesh.start({
  regions: [{ id: "eu-1", zone: "eu" }, { id: "us-1", zone: "us" }],
  directLinks: true,
  env: () => ({ MESH_TRUST_PROXY: "true" }),
});
try {
  await mesh.until("both lead", async () =>
    (await mesh.status("eu-1")).leader?.self === true &&
    (await mesh.status("us-1")).reachable.length === 2, 20_000);
  const result = { latency: await latency(mesh), fan_out: await fanOut(mesh) };
  console.log(JSON.stringify(result, null, 2));
} finally {
  await mesh.stop();
}
