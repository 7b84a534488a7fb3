import assert from "node:assert/strict";
import fc from "fast-check";
import {
  PHI_THRESHOLD_DEFAULT,
  PHI_WINDOW_SAMPLES_DEFAULT,
  PhiAccrualDetector,
} from "../../src/mesh/phi_accrual.ts";

/** The mesh's heartbeat period in tests and benchmarks, in ms. */
const HEARTBEAT_MS = 250;
/** Jitter of the simulated heartbeats: each interval is 250 ± 20 ms. */
const JITTER_MS = 20;
const T0_MS = 1_700_000_000_000;

/** mulberry32: the jitter is a function of the seed, so every run sees the same heartbeats. */
function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    let t = (state = (state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Feeds `count` heartbeats at 250 ± 20 ms on an owned clock; returns the last heartbeat time. */
function feedJittered(detector: PhiAccrualDetector, count: number, seed: number): number {
  const next = rng(seed);
  let now = T0_MS;
  detector.heartbeat(now);
  for (let i = 1; i < count; i++) {
    now += HEARTBEAT_MS + Math.round((next() * 2 - 1) * JITTER_MS);
    detector.heartbeat(now);
  }
  return now;
}

/** Milliseconds after `lastMs` at which phi first reaches the threshold, stepping 1 ms. */
function crossingMs(detector: PhiAccrualDetector, lastMs: number): number {
  for (let after = 0; after <= 60_000; after++) {
    if (detector.phi(lastMs + after) >= PHI_THRESHOLD_DEFAULT) return after;
  }
  throw new Error("phi never reached the threshold within a minute");
}

Deno.test("PhiAccrualDetector.phi() crosses 8 between 250 ms and 1 s after the last of 250 ± 20 ms heartbeats", () => {
  for (const seed of [1, 2, 3, 42, 2024]) {
    const detector = new PhiAccrualDetector({ expectedIntervalMs: HEARTBEAT_MS });
    const last = feedJittered(detector, 200, seed);
    const crossing = crossingMs(detector, last);
    // Analytically: mean 250 + pause 250 + ~5.2 × the 50 ms deviation floor ≈ 760 ms.
    assert.ok(crossing > 250 && crossing < 1_000, `seed ${seed}: crossed at ${crossing} ms`);
    assert.ok(crossing >= 740 && crossing <= 790, `seed ${seed}: crossed at ${crossing} ms`);
  }
});

Deno.test("PhiAccrualDetector.phi() stays below the threshold through one late interval of jitter", () => {
  const detector = new PhiAccrualDetector({ expectedIntervalMs: HEARTBEAT_MS });
  const next = rng(7);
  let now = T0_MS;
  detector.heartbeat(now);
  for (let i = 0; i < 2_000; i++) {
    const interval = HEARTBEAT_MS + Math.round((next() * 2 - 1) * JITTER_MS);
    // Just before each heartbeat lands, the peer must not be suspected at all.
    assert.ok(detector.phi(now + interval) < 1, `phi ${detector.phi(now + interval)} at ${i}`);
    now += interval;
    detector.heartbeat(now);
  }
  assert.ok(detector.isAvailable(now + HEARTBEAT_MS + JITTER_MS));
  // One lost heartbeat (a 500 ms gap) is tolerated too: that is what the pause is for.
  assert.ok(detector.phi(now + 2 * HEARTBEAT_MS) < 1);
});

Deno.test("PhiAccrualDetector.phi() is Infinity before any heartbeat and 0 right after one", () => {
  const detector = new PhiAccrualDetector();
  assert.equal(detector.phi(T0_MS), Infinity);
  assert.equal(detector.isAvailable(T0_MS), false);
  assert.equal(detector.lastSeenMs, null);
  detector.heartbeat(T0_MS);
  assert.equal(detector.lastSeenMs, T0_MS);
  assert.ok(detector.phi(T0_MS) < 1e-6);
  assert.ok(detector.isAvailable(T0_MS));
});

Deno.test("PhiAccrualDetector.phi() after the first heartbeat uses the expected interval", () => {
  // No real interval yet: the window holds only the seeds around expectedIntervalMs.
  const fast = new PhiAccrualDetector({ expectedIntervalMs: 250 });
  const slow = new PhiAccrualDetector({ expectedIntervalMs: 5_000 });
  fast.heartbeat(T0_MS);
  slow.heartbeat(T0_MS);
  assert.equal(fast.meanIntervalMs, 250);
  assert.equal(slow.meanIntervalMs, 5_000);
  assert.ok(fast.phi(T0_MS + 2_000) >= PHI_THRESHOLD_DEFAULT);
  assert.ok(slow.phi(T0_MS + 2_000) < 1);
});

Deno.test("PhiAccrualDetector.phi() never decreases as the silence grows and stays finite", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 2_000 }), { minLength: 1, maxLength: 50 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.integer({ min: 1, max: 1_000 }),
      (intervals, at, step) => {
        const detector = new PhiAccrualDetector();
        let now = T0_MS;
        detector.heartbeat(now);
        for (const interval of intervals) detector.heartbeat(now += interval);
        const earlier = detector.phi(now + at);
        const later = detector.phi(now + at + step);
        assert.ok(Number.isFinite(later) && later >= 0);
        assert.ok(later >= earlier, `${later} < ${earlier}`);
      },
    ),
  );
  const detector = new PhiAccrualDetector();
  detector.heartbeat(T0_MS);
  assert.ok(Number.isFinite(detector.phi(T0_MS + 365 * 86_400_000)));
});

Deno.test("PhiAccrualDetector.heartbeat() keeps a bounded window that forgets the old rhythm", () => {
  const detector = new PhiAccrualDetector({ expectedIntervalMs: 1_000 });
  let now = T0_MS;
  detector.heartbeat(now);
  for (let i = 0; i < 500; i++) detector.heartbeat(now += 1_000);
  assert.equal(detector.sampleCount, PHI_WINDOW_SAMPLES_DEFAULT);
  for (let i = 0; i < PHI_WINDOW_SAMPLES_DEFAULT; i++) detector.heartbeat(now += 100);
  assert.equal(detector.sampleCount, PHI_WINDOW_SAMPLES_DEFAULT);
  assert.equal(detector.meanIntervalMs, 100);
  assert.equal(detector.stdDeviationMs, 0);
});

Deno.test("PhiAccrualDetector.heartbeat() ignores a time earlier than the last heartbeat", () => {
  const detector = new PhiAccrualDetector();
  detector.heartbeat(T0_MS);
  detector.heartbeat(T0_MS + 250);
  const before = { count: detector.sampleCount, mean: detector.meanIntervalMs };
  detector.heartbeat(T0_MS + 100);
  assert.equal(detector.lastSeenMs, T0_MS + 250);
  assert.deepEqual({ count: detector.sampleCount, mean: detector.meanIntervalMs }, before);
  assert.throws(() => detector.heartbeat(NaN), RangeError);
});

Deno.test("PhiAccrualDetector.phi() grows faster for a regular peer than for an irregular one", () => {
  const regular = new PhiAccrualDetector({ minStdDeviationMs: 1, acceptableHeartbeatPauseMs: 0 });
  const irregular = new PhiAccrualDetector({
    minStdDeviationMs: 1,
    acceptableHeartbeatPauseMs: 0,
  });
  let a = T0_MS, b = T0_MS;
  regular.heartbeat(a);
  irregular.heartbeat(b);
  for (let i = 0; i < 100; i++) {
    regular.heartbeat(a += 250);
    irregular.heartbeat(b += i % 2 === 0 ? 100 : 400);
  }
  assert.ok(regular.phi(a + 400) > irregular.phi(b + 400));
});

Deno.test("new PhiAccrualDetector() rejects invalid options naming the field", () => {
  assert.throws(
    () => new PhiAccrualDetector({ minStdDeviationMs: 0 }),
    /Cannot create PhiAccrualDetector as minStdDeviationMs is invalid/,
  );
  assert.throws(
    () => new PhiAccrualDetector({ windowSamples: 1_001 }),
    /windowSamples is invalid/,
  );
  assert.throws(() => new PhiAccrualDetector({ threshold: -1 }), /threshold is invalid/);
  assert.throws(
    () => new PhiAccrualDetector({ expectedIntervalMs: Infinity }),
    /expectedIntervalMs is invalid/,
  );
  assert.throws(
    // @ts-expect-error: an unknown option is a typo, not a silent default
    () => new PhiAccrualDetector({ heartbeatMs: 250 }),
    /Cannot create PhiAccrualDetector as options is invalid/,
  );
  const defaults = new PhiAccrualDetector().config;
  assert.deepEqual(defaults, {
    expectedIntervalMs: 250,
    threshold: 8,
    windowSamples: 100,
    minStdDeviationMs: 50,
    acceptableHeartbeatPauseMs: 250,
    sampleIntervalMaxFactor: 4,
  });
});

Deno.test("PhiAccrualDetector.heartbeat() does not learn an outage: after a long gap the next silence is suspected as fast", () => {
  const steady = new PhiAccrualDetector();
  const healed = new PhiAccrualDetector();
  let t = 0;
  for (let i = 0; i < 200; i++, t += 250) {
    steady.heartbeat(t);
    healed.heartbeat(t);
  }
  // healed saw a 6 s outage (a partition), then 10 regular heartbeats; steady did not.
  t += 6_000;
  for (let i = 0; i < 10; i++, t += 250) {
    steady.heartbeat(t);
    healed.heartbeat(t);
  }
  const last = t - 250;
  const crossing = (d: PhiAccrualDetector) => {
    let ms = 0;
    while (d.phi(last + ms) < 8) ms += 5;
    return ms;
  };
  assert.ok(
    Math.abs(crossing(healed) - crossing(steady)) <= 10,
    `${crossing(healed)} vs ${crossing(steady)}`,
  );
  assert.ok(crossing(healed) < 1_000);
  assert.ok(healed.lastSeenMs === last);
});
