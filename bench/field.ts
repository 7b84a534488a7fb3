/**
 * Against the field (issue 14): in one run on one machine, our mesh beside what users already
 * run, each a real peer on loopback with the same payload (256 bytes), the same counts and the
 * same injected latencies.
 *
 *   deno run -A bench/field.ts setup              # once: Debian nats-server and serf (as root),
 *                                                 # npm packages pinned in deno.json
 *   deno run -A --cached-only bench/field.ts      # the run (installs and downloads nothing)
 *
 * Propagation, a message published in region/cluster A until it reaches a subscriber in B,
 * with no added latency and with `BENCH_DELAYS` ms (default 50) one way on every link between
 * regions (our chaos proxy; a TCP/UDP delay proxy for the others):
 * - ours, 3 regions (3 zones): push → visible in b's view, and topic publish → SSE on b
 *   (bench/_field_ours.ts);
 * - NATS, 3 clusters joined by gateways: publish on A → subscriber on B (bench/_field_nats.ts);
 * - js-libp2p gossipsub, 3 peers over TCP: publish on peer 0 → peer 1 (bench/_field_libp2p.ts);
 * - Serf user events, 3 and 30 agents: fired on agent 0 → agent 1's event stream, and → all
 *   (bench/_field_serf.ts).
 * Durable writes: accepted (verified, stored) deltas/s into one region vs JetStream file-backed
 * publishes with acks, both against bare Ed25519 verification in this process.
 *
 * Environment: `BENCH_SAMPLES` per row (default 200), `BENCH_WARMUP` (default 20),
 * `BENCH_DELAYS` (default `0,50`), `BENCH_ONLY` (comma list of ours, nats, gossipsub, serf3,
 * serf30, durable; default all), `BENCH_DELTAS` for durable writes (default 20,000).
 * Prints the full JSON on stdout, then the tables (markdown).
 */
import { gossipsubPropagation } from "./_field_libp2p.ts";
import { jetStreamWrites, natsPropagation } from "./_field_nats.ts";
import { bareVerifies, ourPropagation, ourWrites } from "./_field_ours.ts";
import { serfPropagation } from "./_field_serf.ts";
import { loadAverage, missing, setup, versions } from "./_field_setup.ts";
import { type Latency, PAYLOAD_BYTES } from "./_field_stats.ts";

const SAMPLES = Number(Deno.env.get("BENCH_SAMPLES") ?? 200);
const WARMUP = Number(Deno.env.get("BENCH_WARMUP") ?? 20);
const DELAYS = (Deno.env.get("BENCH_DELAYS") ?? "0,50").split(",").map(Number);
const ONLY = new Set(
  (Deno.env.get("BENCH_ONLY") ?? "ours,nats,gossipsub,serf3,serf30,durable").split(","),
);
const DELTAS = Number(Deno.env.get("BENCH_DELTAS") ?? 20_000);
/** Deltas (or messages) written one at a time, each awaited. */
const ONE_AT_A_TIME = 2_000;

interface Row {
  readonly system: string;
  readonly path: string;
  readonly addedMs: number;
  readonly latency: Latency;
  readonly load: [number, number];
  readonly note?: string;
}

if (Deno.args[0] === "setup") {
  await setup();
  console.error("setup done: run `deno run -A --cached-only bench/field.ts`");
  Deno.exit(0);
}
const problems = await missing();
if (problems.length > 0) {
  console.error(`Cannot run bench/field.ts:\n- ${problems.join("\n- ")}`);
  Deno.exit(1);
}

const dir = await Deno.makeTempDir({ prefix: "field-bench-" });
const rows: Row[] = [];
const progress = (what: string) => console.error(`[field] ${new Date().toISOString()} ${what}`);

async function row(
  system: string,
  path: string,
  addedMs: number,
  run: () => Promise<Latency>,
  note?: string,
): Promise<void> {
  progress(`${system}: ${path}, +${addedMs} ms`);
  const before = loadAverage();
  const latency = await run();
  rows.push({ system, path, addedMs, latency, load: [before, loadAverage()], note });
}

const info = await versions();
const startedAt = new Date().toISOString();
try {
  for (const delay of DELAYS) {
    if (ONLY.has("ours")) {
      const before = loadAverage();
      progress(`ours: push and topic, +${delay} ms`);
      const ours = await ourPropagation(delay, SAMPLES, WARMUP);
      const load: [number, number] = [before, loadAverage()];
      const poll = `view long-polled with its ETag, ${ours.viewRequestMs} ms a request`;
      rows.push({
        system: "ours, 3 regions",
        path: "push → visible in b",
        addedMs: delay,
        latency: ours.push,
        load,
        note: poll,
      });
      rows.push({
        system: "ours, 3 regions",
        path: "topic → SSE on b",
        addedMs: delay,
        latency: ours.topic,
        load,
      });
    }
    if (ONLY.has("nats")) {
      await row(
        "NATS, 3 clusters (gateways)",
        "publish on A → sub on B",
        delay,
        () => natsPropagation(dir, delay, SAMPLES, WARMUP),
      );
    }
    if (ONLY.has("gossipsub")) {
      await row(
        "libp2p gossipsub, 3 peers",
        "publish → peer 1",
        delay,
        () => gossipsubPropagation(delay, SAMPLES, WARMUP),
      );
    }
    for (const agents of [3, 30]) {
      if (!ONLY.has(`serf${agents}`)) continue;
      progress(`serf: ${agents} agents, +${delay} ms`);
      const before = loadAverage();
      const serf = await serfPropagation(agents, delay, SAMPLES, WARMUP);
      const load: [number, number] = [before, loadAverage()];
      const system = `Serf, ${agents} agents`;
      rows.push({
        system,
        path: "user event → agent 1",
        addedMs: delay,
        latency: serf.toOne,
        load,
      });
      rows.push({ system, path: "user event → all", addedMs: delay, latency: serf.toAll, load });
    }
  }
  const durable = ONLY.has("durable") ? await durableWrites() : null;
  const report = {
    bench: "field",
    startedAt,
    versions: info,
    payloadBytes: PAYLOAD_BYTES,
    samples: SAMPLES,
    warmup: WARMUP,
    propagation: rows,
    durable,
  };
  console.log(JSON.stringify(report, null, 1));
  console.log("\n" + propagationTable(rows));
  if (durable !== null) console.log("\n" + durableTable(durable));
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => undefined);
}

async function durableWrites() {
  progress("durable writes: ours");
  const load0 = loadAverage();
  const ours = await ourWrites(dir, [
    { deltas: DELTAS, batch: 100, concurrency: 4 },
    { deltas: ONE_AT_A_TIME, batch: 1, concurrency: 1 },
  ]);
  progress("durable writes: JetStream");
  const jetStream = await jetStreamWrites(dir, [
    { messages: DELTAS, window: 400 },
    { messages: ONE_AT_A_TIME, window: 1 },
  ]);
  progress("bare Ed25519 verification");
  const verifies = await bareVerifies(DELTAS);
  return { ours, jetStream, bareVerifiesPerSecond: verifies, load: [load0, loadAverage()] };
}

function fmt(x: number): string {
  return Number.isNaN(x) ? "—" : x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

function ratio(x: number): string {
  return Number.isNaN(x) ? "—" : x >= 10 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toFixed(2);
}

function propagationTable(all: readonly Row[]): string {
  const lines = [
    "| system | path | added one-way | p50 ms | p99 ms | p99 − added | p50 ÷ ours push | p99 ÷ ours push | lost | load |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of all) {
    const ours = all.find((o) => o.path.startsWith("push") && o.addedMs === r.addedMs);
    const vs = (k: "p50" | "p99") => ours ? ratio(r.latency[k] / ours.latency[k]) : "—";
    lines.push(
      `| ${r.system} | ${r.path} | ${r.addedMs} ms | ${fmt(r.latency.p50)} | ${
        fmt(r.latency.p99)
      } | ${fmt(r.latency.p99 - r.addedMs)} | ${vs("p50")} | ${vs("p99")} | ${r.latency.lost} | ${
        r.load.join("→")
      } |`,
    );
  }
  return lines.join("\n");
}

function durableTable(d: Awaited<ReturnType<typeof durableWrites>>): string {
  const lines = [
    "| system | mode | per s | ÷ bare verify | ours ÷ JetStream |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const [k, o] of d.ours.entries()) {
    const j = d.jetStream[k];
    lines.push(
      `| ours, 1 region (Deno KV) | ${o.batch} a push, ${o.concurrency} in flight | ${o.perSecond} | ${
        ratio(o.perSecond / d.bareVerifiesPerSecond)
      } | ${ratio(o.perSecond / j.perSecond)} |`,
      `| JetStream (file) | ${j.window} acks outstanding | ${j.perSecond} | ${
        ratio(j.perSecond / d.bareVerifiesPerSecond)
      } | |`,
    );
  }
  lines.push(
    `| bare Ed25519 verify (WebCrypto) | 100 at a time | ${d.bareVerifiesPerSecond} | 1 | |`,
  );
  return lines.join("\n");
}
