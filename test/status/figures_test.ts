import assert from "node:assert/strict";
import {
  LAG_PEERS_MAX,
  LAG_SAMPLES_MAX,
  LAG_WINDOW_MS,
  LagReservoir,
} from "../../src/status/lag_reservoir.ts";
import {
  THROUGHPUT_RATE_SECONDS,
  THROUGHPUT_SECONDS,
  ThroughputMeter,
} from "../../src/status/throughput.ts";

const T0_MS = 1_800_000_000_000;

Deno.test("LagReservoir.figures() reads nearest-rank percentiles of a peer's arrivals, per peer", () => {
  const lag = new LagReservoir();
  for (let i = 1; i <= 100; i++) lag.record("eu-1", T0_MS - i, T0_MS); // lags 1 … 100 ms
  lag.record("us-1", T0_MS - 40, T0_MS);
  assert.deepEqual(lag.figures("eu-1", T0_MS), {
    count: 100,
    p50Ms: 50,
    p90Ms: 90,
    p99Ms: 99,
    maxMs: 100,
  });
  assert.deepEqual(lag.figures("us-1", T0_MS), {
    count: 1,
    p50Ms: 40,
    p90Ms: 40,
    p99Ms: 40,
    maxMs: 40,
  });
  assert.equal(lag.figures("ap-1", T0_MS), null);
});

Deno.test("LagReservoir counts a delta from an author clock ahead of ours as lag 0, and skips non-finite times", () => {
  const lag = new LagReservoir();
  lag.record("eu-1", T0_MS + 5_000, T0_MS);
  lag.record("eu-1", NaN, T0_MS);
  lag.record("eu-1", T0_MS, Infinity);
  assert.deepEqual(lag.figures("eu-1", T0_MS), {
    count: 1,
    p50Ms: 0,
    p90Ms: 0,
    p99Ms: 0,
    maxMs: 0,
  });
});

Deno.test("LagReservoir keeps the last LAG_SAMPLES_MAX arrivals per peer and forgets those older than the window", () => {
  const lag = new LagReservoir();
  for (let i = 0; i < LAG_SAMPLES_MAX; i++) lag.record("eu-1", T0_MS - 10_000, T0_MS);
  for (let i = 0; i < 10; i++) lag.record("eu-1", T0_MS - 5, T0_MS + 1);
  const f = lag.figures("eu-1", T0_MS + 1)!;
  assert.equal(f.count, LAG_SAMPLES_MAX, "ten old arrivals were overwritten");
  assert.equal(f.p50Ms, 10_000);
  assert.equal(lag.figures("eu-1", T0_MS + 1 + LAG_WINDOW_MS)!.count, 10);
  assert.equal(lag.figures("eu-1", T0_MS + 2 + LAG_WINDOW_MS), null);
});

Deno.test("LagReservoir tracks at most LAG_PEERS_MAX peers", () => {
  const lag = new LagReservoir();
  for (let i = 0; i <= LAG_PEERS_MAX; i++) lag.record(`r-${i}`, T0_MS - 1, T0_MS);
  assert.notEqual(lag.figures(`r-${LAG_PEERS_MAX - 1}`, T0_MS), null);
  assert.equal(lag.figures(`r-${LAG_PEERS_MAX}`, T0_MS), null);
});

Deno.test("ThroughputMeter.figures() gives the per-second series by source and the rate over whole seconds", () => {
  const meter = new ThroughputMeter();
  const start = T0_MS - (T0_MS % 1000); // a second boundary
  for (let s = 0; s < THROUGHPUT_RATE_SECONDS; s++) {
    meter.add("agents", 10, start + s * 1000 + 100);
    meter.add("peers", 4, start + s * 1000 + 900);
  }
  const now = start + THROUGHPUT_RATE_SECONDS * 1000 + 500;
  meter.add("agents", 1_000, now); // the running second does not count towards the rate
  const f = meter.figures(now);
  assert.equal(f.agents.length, THROUGHPUT_SECONDS);
  assert.equal(f.peers.length, THROUGHPUT_SECONDS);
  assert.equal(f.agents.at(-1), 1_000);
  assert.deepEqual(f.agents.slice(-1 - THROUGHPUT_RATE_SECONDS, -1), [10, 10, 10, 10, 10]);
  assert.equal(f.agentsPerSecond, 10);
  assert.equal(f.peersPerSecond, 4);
  assert.equal(f.deltasPerSecond, 14);
  assert.equal(f.fromMs, Math.floor(now / 1000) * 1000 - (THROUGHPUT_SECONDS - 1) * 1000);
});

Deno.test("ThroughputMeter zeroes the seconds it skipped and forgets what is older than the series", () => {
  const meter = new ThroughputMeter();
  meter.add("agents", 7, T0_MS);
  const later = meter.figures(T0_MS + 10_000);
  assert.equal(later.agents.at(-11), 7);
  assert.equal(later.agents.reduce((a, b) => a + b), 7);
  const gone = meter.figures(T0_MS + THROUGHPUT_SECONDS * 1000);
  assert.equal(gone.agents.reduce((a, b) => a + b), 0);
  // A clock stepped back adds to the newest second, never to a forgotten one.
  meter.add("peers", 3, T0_MS);
  assert.equal(meter.figures(T0_MS).peers.at(-1), 3);
});
