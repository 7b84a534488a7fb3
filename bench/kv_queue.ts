/**
 * Whether one process's Deno KV operations wait for each other: a commit timed alone and right
 * behind another commit (a region's nonce claim in front of a relayed delta's write), a read timed
 * alone and right behind a commit (a woken view's marks read behind a write). Same file, same
 * sizes, alternating, 5 ms apart. Prints p50/p90 per case as JSON.
 *
 *   deno run -A bench/kv_queue.ts            # BENCH_SAMPLES (default 300), BENCH_ROUNDS (2)
 */
const SAMPLES = Number(Deno.env.get("BENCH_SAMPLES") ?? 300);
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 2);
const VALUE = "v".repeat(500);

const quantiles = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(3);
  return { p50: q(0.5), p90: q(0.9) };
};
const pause = () => new Promise((r) => setTimeout(r, 5));

async function round(kv: Deno.Kv, r: number) {
  const times = {
    commitAlone: [],
    commitBehindCommit: [],
    getAlone: [],
    getBehindCommit: [],
  } as Record<string, number[]>;
  const timed = async (into: number[], work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    into.push(performance.now() - started);
  };
  for (let i = 0; i < SAMPLES; i++) {
    await timed(times.commitAlone, () => kv.atomic().set(["x", r, i], VALUE).commit());
    await pause();
    const claim = kv.atomic().check({ key: ["n", r, i], versionstamp: null })
      .set(["n", r, i], 1).commit();
    await timed(times.commitBehindCommit, () => kv.atomic().set(["y", r, i], VALUE).commit());
    await claim;
    await pause();
    await timed(times.getAlone, () => kv.get(["x", r, i]));
    const write = kv.atomic().set(["z", r, i], 1).commit();
    await timed(times.getBehindCommit, () => kv.get(["x", r, i]));
    await write;
    await pause();
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, quantiles(v)]));
}

const dir = await Deno.makeTempDir({ prefix: "kv_queue_" });
const kv = await Deno.openKv(`${dir}/kv`);
try {
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await round(kv, r));
  console.log(JSON.stringify({ bench: "kv_queue", samples: SAMPLES, ms: rounds }, null, 1));
} finally {
  kv.close();
  await Deno.remove(dir, { recursive: true });
}
