/**
 * Multi-region figures on real processes (3 regions in 2 zones, each its own process and Deno KV
 * store; every link through a chaos proxy):
 *
 * 1. cross-region visibility after eager fan-out, with 50 ms injected one-way latency on every
 *    link (each way: request and answer): push to a region, poll the others every 5 ms until the
 *    delta is readable (the first 3 pushes of each route warm up and are not counted);
 * 2. partition detection with 250 ms heartbeats: cut one region off, time until it reports
 *    itself in a minority and until the others stop counting it;
 * 3. convergence after the heal with 10,000 deltas written during the partition (5,000 on each
 *    side): time from heal until every region has the same delta set.
 *
 *   deno run -A bench/mesh.ts
 */
import { Agent } from "../src/client/agent.ts";
import { AgentKey } from "../src/crypto/agent_key.ts";
import type { Envelope } from "../src/client/mesh_client.ts";
import { MeshClient } from "../src/client/mesh_client.ts";
import { TestMesh } from "../test/support/mesh_processes.ts";

const POLL_MS = 5;
/** Convergence is polled less often: each status read costs the regions work. */
const CONVERGE_POLL_MS = 100;
const VISIBILITY_SAMPLES = Number(Deno.env.get("BENCH_SAMPLES") ?? 20);
/** Pushes of each route before the samples, not counted (cold connections and caches). */
const WARMUP_SAMPLES = 3;
const PARTITION_DELTAS = Number(Deno.env.get("BENCH_PARTITION_DELTAS") ?? 10_000);

const mesh = await TestMesh.start({
  regions: [{ id: "eu-1", zone: "eu" }, { id: "eu-2", zone: "eu" }, { id: "us-1", zone: "us" }],
  heartbeatMs: 250,
  antiEntropyMs: 1_000,
});

async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  pollMs = POLL_MS,
): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check().catch(() => false)) return performance.now() - started;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms`);
}

const deltasOf = async (id: string, channel: string) =>
  (await new MeshClient(mesh.region(id).url).view(channel)).deltas;

const quantiles = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]);
  return { p50_ms: q(0.5), p90_ms: q(0.9), max_ms: Math.round(s.at(-1)!) };
};

try {
  await until(
    async () =>
      (await mesh.status("us-1")).reachable.length === 3 &&
      (await mesh.status("eu-1")).leader?.self === true,
    15_000,
  );
  mesh.setLinks({ delayMs: 50, answerDelayMs: 50 });
  const agent = new Agent(AgentKey.generate());

  // 1. Visibility: push to the zone leader (eu-1) and to a non-leader (eu-2: two hops to us-1).
  const visibility: Record<string, number[]> = {
    "eu-1→eu-2": [],
    "eu-1→us-1": [],
    "eu-2→us-1": [],
  };
  for (const from of ["eu-1", "eu-2"]) {
    const channel = `vis-${from}`;
    for (let i = 0; i < WARMUP_SAMPLES + VISIBILITY_SAMPLES; i++) {
      const started = performance.now();
      await new MeshClient(mesh.region(from).url).push([
        agent.sign(channel, [{ op: "inc", counter: "n", by: 1 }]),
      ]);
      const targets = from === "eu-1" ? ["eu-2", "us-1"] : ["us-1"];
      await Promise.all(targets.map(async (to) => {
        await until(async () => (await deltasOf(to, channel)) === i + 1, 5_000);
        if (i >= WARMUP_SAMPLES) visibility[`${from}→${to}`].push(performance.now() - started);
      }));
    }
  }

  // 2. Partition detection.
  mesh.setLinks({});
  await until(async () => (await mesh.status("eu-1")).reachable.length === 3, 10_000);
  mesh.partition([["eu-1"], ["eu-2", "us-1"]]);
  const cutAt = performance.now();
  const [selfDetected, othersDetected] = await Promise.all([
    until(async () => (await mesh.status("eu-1")).partition === "minority", 5_000),
    until(
      async () =>
        !(await mesh.status("eu-2")).reachable.includes("eu-1") &&
        !(await mesh.status("us-1")).reachable.includes("eu-1"),
      5_000,
    ),
  ]);
  void cutAt;

  // 3. 10,000 deltas during the partition, then heal and time convergence.
  const base = (await mesh.status("us-1")).deltas; // every region holds these before the writes
  const sides = ["eu-1", "eu-2"];
  const writers = sides.map(() => new Agent(AgentKey.generate()));
  await Promise.all(sides.map(async (id, s) => {
    const envelopes: Envelope[] = [];
    for (let i = 0; i < PARTITION_DELTAS / 2; i++) {
      envelopes.push(
        writers[s].sign("partitioned", [{ op: "set", key: `${id}-${i % 100}`, value: i }]),
      );
    }
    const results = await new MeshClient(mesh.region(id).url).push(envelopes);
    if (results.some((r) => r.status !== "accepted")) {
      throw new Error("a partition write was not accepted");
    }
  }));
  const total = base + PARTITION_DELTAS;
  // Let the majority side settle (a partition lasts), then heal and time full convergence.
  await until(
    async () => (await mesh.status("us-1")).deltas === base + PARTITION_DELTAS / 2,
    60_000,
  );
  mesh.heal();
  const healedAt = performance.now();
  const timeline: string[] = [];
  const watch = setInterval(async () => {
    const s = await Promise.all(
      ["eu-1", "eu-2", "us-1"].map((id) => mesh.status(id).catch(() => null)),
    );
    if (Deno.env.get("BENCH_TIMELINE")) {
      const peers = s[0]?.peers.map((p) =>
        `${p.id}:${p.outboxDepth}/${(p as { fanOutFailures?: number }).fanOutFailures}`
      );
      timeline.push(
        `${Math.round(performance.now() - healedAt)}ms ${
          s.map((x) => x?.deltas).join("/")
        } eu-1 outbox ${peers}`,
      );
    }
  }, 250);
  const convergeMs = await until(
    async () => {
      const s = await Promise.all(["eu-1", "eu-2", "us-1"].map((id) => mesh.status(id)));
      return s.every((x) => x.deltas === total && x.fingerprint === s[0].fingerprint);
    },
    60_000,
    CONVERGE_POLL_MS,
  );
  clearInterval(watch);
  if (timeline.length > 0) console.error(timeline.join("\n"));

  console.log(JSON.stringify({
    bench: "mesh",
    regions: 3,
    zones: 2,
    visibility_with_50ms_links: Object.fromEntries(
      Object.entries(visibility).map(([k, v]) => [k, quantiles(v)]),
    ),
    partition_detection_ms: {
      cut_off_region_reports_minority: Math.round(selfDetected),
      others_drop_it: Math.round(othersDetected),
    },
    heal_convergence: {
      deltas_written_during_partition: PARTITION_DELTAS,
      total_deltas: total,
      converge_ms: Math.round(convergeMs),
    },
  }));
} finally {
  await mesh.stop();
}
