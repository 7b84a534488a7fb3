/**
 * One hop, timed: 3 region processes in 2 zones (eu-1, eu-2 | us-1), each with its own store;
 * single deltas pushed one at a time, each awaited until readable in us-1's view. Routes:
 * eu-1 → us-1 (one hop: eu-1 leads zone eu and sends across zones) and eu-2 → us-1 (two hops:
 * to its zone leader eu-1, then across). Prints p50/p90/p99 per route as JSON.
 *
 *   deno run -A bench/hop.ts
 *
 * Environment:
 * - `BENCH_STORE=denokv|upstash` (default denokv; upstash runs redis-server + the REST test server)
 * - `BENCH_DELAY_MS` one-way latency added on every link by the chaos proxies (default 0), to the
 *   request and to its answer alike; `BENCH_ANSWER_DELAY_MS` sets the answer's apart (0: only the
 *   request is delayed, the model of the figures before 2026-11-28)
 * - `BENCH_LINKS=direct|proxy|tcp`: peers talk directly, through the chaos proxies (HTTP servers
 *   that hold each request and answer), or through TCP delay proxies that hold the bytes each way
 *   with no HTTP server of their own in the path, as the peers of bench/field.ts get (default:
 *   direct when BENCH_DELAY_MS is 0, else proxy)
 * - `BENCH_SAMPLES` per route (default 200), `BENCH_ROUTES` (default `eu-1>us-1,eu-2>us-1`)
 * - `BENCH_WARMUP` samples per route taken first and not counted (default 500). A region runs its
 *   hot path in V8's lower tiers for its first few hundred pushes: with the pair layout, p50 was
 *   5.6 ms over samples 1–300 and 4.1–4.2 ms from sample 600 on (2026-11-28). A region in service
 *   is warm; 5 (the figures before 2026-11-28) measures a region just started.
 * - `BENCH_LAYOUT=pair`: only eu-1 and us-1 (the one-hop route alone), so that no third region's
 *   copy of each delta competes for this machine's two cores and one disk while the hop runs, as
 *   it would not where every region has its own machine (default `three`)
 * - `BENCH_TRACE=1`: the regions export OpenTelemetry spans (Deno's built-in OTel, OTLP/JSON) to a
 *   collector in this process, and the breakdown per stage of the eu-1 → us-1 hop is printed
 *   (push accepted → fan-out woken → log read → request sent → peer received → peer checked →
 *   peer verified → peer committed → readable in the peer's view → seen by this poller). Tracing
 *   costs time of its own: compare totals with a run without it. `BENCH_SPANS_OUT=<file>` also
 *   writes every span and sample window there, as JSON, for a closer look.
 *
 * - `BENCH_READ=wait|poll`: how the reader learns the delta is visible. `wait` (default) is a
 *   long-poll: `GET` the view with `If-None-Match` (the tag of the last read) and `wait=5`, which
 *   the region answers once the view changed (docs/protocol.md §12.2). `poll` reads the view back
 *   to back (no sleep), so its granularity is one view round trip.
 *
 * `view_request_ms` is the reader's mean time per view request (a long-poll's wait included).
 */
import { Agent } from "../src/client/agent.ts";
import { AgentKey } from "../src/crypto/agent_key.ts";
import { TestMesh } from "../test/support/mesh_processes.ts";
import { startUpstashEnv } from "../test/support/upstash_rest_server.ts";
import { breakdown, type SpanRecord, spansOf } from "./_hop_trace.ts";
import { ViewWaiter } from "./_view_wait.ts";

const STORE = Deno.env.get("BENCH_STORE") ?? "denokv";
const DELAY_MS = Number(Deno.env.get("BENCH_DELAY_MS") ?? 0);
const ANSWER_DELAY_MS = Number(Deno.env.get("BENCH_ANSWER_DELAY_MS") ?? DELAY_MS);
const LINKS = Deno.env.get("BENCH_LINKS") ?? (DELAY_MS > 0 ? "proxy" : "direct");
if (!["direct", "proxy", "tcp"].includes(LINKS)) throw new Error(`BENCH_LINKS=${LINKS}?`);
if (LINKS === "tcp" && ANSWER_DELAY_MS !== DELAY_MS) {
  throw new Error("BENCH_LINKS=tcp delays both ways alike: leave BENCH_ANSWER_DELAY_MS unset");
}
const SAMPLES = Number(Deno.env.get("BENCH_SAMPLES") ?? 200);
const WARMUP = Number(Deno.env.get("BENCH_WARMUP") ?? 500);
const ROUTES = (Deno.env.get("BENCH_ROUTES") ??
  (Deno.env.get("BENCH_LAYOUT") === "pair" ? "eu-1>us-1" : "eu-1>us-1,eu-2>us-1")).split(",");
const TRACE = Deno.env.get("BENCH_TRACE") === "1";
const READ = Deno.env.get("BENCH_READ") ?? "wait";
const LAYOUT = Deno.env.get("BENCH_LAYOUT") ?? "three";
if (!["three", "pair"].includes(LAYOUT)) throw new Error(`BENCH_LAYOUT=${LAYOUT}?`);
const REGIONS = [
  { id: "eu-1", zone: "eu" },
  ...(LAYOUT === "pair" ? [] : [{ id: "eu-2", zone: "eu" }]),
  { id: "us-1", zone: "us" },
];
/** Pause between samples, in ms (plus up to as much again at random, off the 50 ms tick). */
const GAP_MS = 10;
/** Longest a sample may take to become visible, in ms. */
const VISIBLE_MS_MAX = 5_000;

const wallMs = () => performance.timeOrigin + performance.now();

const spans: SpanRecord[] = [];
const collector = TRACE
  ? Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    if (new URL(request.url).pathname === "/v1/traces") {
      spans.push(...spansOf(await request.json()));
    } else await request.body?.cancel();
    return Response.json({});
  })
  : null;
const otelEnv = (region: string): Record<string, string> =>
  collector === null ? {} : {
    OTEL_DENO: "true",
    OTEL_SERVICE_NAME: region,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.addr.port}`,
    OTEL_DENO_CONSOLE: "ignore",
    OTEL_BSP_SCHEDULE_DELAY: "200",
  };

const upstash = STORE === "upstash" ? await startUpstashEnv() : null;
const storeEnv: Record<string, string> = upstash === null ? {} : {
  MESH_STORE: "upstash",
  UPSTASH_REDIS_REST_URL: upstash.rest.url,
  UPSTASH_REDIS_REST_TOKEN: upstash.rest.token,
};
const mesh = await TestMesh.start({
  regions: REGIONS,
  heartbeatMs: 250,
  antiEntropyMs: 1_000,
  directLinks: LINKS === "direct",
  delayLinks: LINKS === "tcp",
  env: (region) => ({ ...storeEnv, ...otelEnv(region) }),
});

const quantiles = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(2);
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) };
};

const views = new ViewWaiter(READ === "poll" ? "poll" : "wait");

/** Pushes one delta to `from`; resolves when `to`'s view holds `expected` deltas. */
async function sample(agent: Agent, from: string, to: string, channel: string, expected: number) {
  const body = JSON.stringify({
    deltas: [agent.sign(channel, [{ op: "inc", counter: "n", by: 1 }])],
  });
  const viewUrl = `${mesh.region(to).url}/v1/channels/${channel}`;
  const started = wallMs();
  const pushed = fetch(`${mesh.region(from).url}/v1/deltas`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  }).then(async (r) => {
    const results = (await r.json()).results;
    if (results?.[0]?.status !== "accepted") throw new Error(`push: ${JSON.stringify(results)}`);
    return wallMs();
  });
  if (!await views.until(viewUrl, (view) => view.deltas >= expected, VISIBLE_MS_MAX)) {
    throw new Error(`${from}>${to}: not visible`);
  }
  const seen = wallMs();
  return { started, answered: await pushed, seen };
}

try {
  await mesh.until(
    "every region leads itself and reaches all",
    async () =>
      (await Promise.all(REGIONS.map(async ({ id }) => {
        const status = await mesh.status(id);
        return status.reachable.length === REGIONS.length && status.leader?.self === true;
      }))).every(Boolean),
    20_000,
  );
  if (DELAY_MS > 0 && LINKS === "tcp") mesh.setLinkDelay(DELAY_MS);
  else if (DELAY_MS > 0) mesh.setLinks({ delayMs: DELAY_MS, answerDelayMs: ANSWER_DELAY_MS });
  const agent = new Agent(AgentKey.generate());
  const results: Record<string, unknown> = {};
  const windows: { started: number; seen: number; channel: string }[] = [];
  for (const route of ROUTES) {
    const [from, to] = route.split(">");
    const channel = `hop-${from}-${crypto.randomUUID().slice(0, 8)}`;
    const visible: number[] = [], pushRtt: number[] = [];
    for (let i = 0; i < SAMPLES + WARMUP; i++) {
      const s = await sample(agent, from, to, channel, i + 1);
      if (i >= WARMUP) { // the first warm connections, caches and V8's optimizing tiers up
        visible.push(s.seen - s.started);
        pushRtt.push(s.answered - s.started);
        if (route === "eu-1>us-1") windows.push({ ...s, channel });
      }
      await new Promise((r) => setTimeout(r, GAP_MS + Math.random() * GAP_MS));
    }
    results[route] = { visible_ms: quantiles(visible), push_rtt_ms: quantiles(pushRtt) };
  }
  let stages: unknown = undefined;
  if (collector !== null) {
    await new Promise((r) => setTimeout(r, 3_000)); // the regions export every 200 ms
    stages = breakdown(spans, windows);
    const out = Deno.env.get("BENCH_SPANS_OUT");
    if (out !== undefined) await Deno.writeTextFile(out, JSON.stringify({ spans, windows }));
  }
  console.log(JSON.stringify(
    {
      bench: "hop",
      store: STORE,
      layout: LAYOUT,
      links: LINKS,
      delay_ms: DELAY_MS,
      answer_delay_ms: ANSWER_DELAY_MS,
      traced: TRACE,
      read: READ,
      warmup: WARMUP,
      view_request_ms: +(views.requestMs / views.requests).toFixed(3),
      routes: results,
      stages_eu1_us1_ms: stages,
    },
    null,
    1,
  ));
} finally {
  await mesh.stop();
  await upstash?.stop();
  await collector?.shutdown();
}
