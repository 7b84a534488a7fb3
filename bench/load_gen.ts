/**
 * Load generator, run as its own process against a running region (see bench/e2e.ts).
 *
 *   deno run -A bench/load_gen.ts <url> throughput <deltas> <batch> <concurrency>
 *   deno run -A bench/load_gen.ts <url> latency <requests_per_s> <seconds>
 *
 * Prints one JSON line with what it measured. Deltas are signed before the clock starts.
 */
import { benchAuthors, signedEnvelopes } from "./_signed_batches.ts";
import type { Envelope } from "../src/client/mesh_client.ts";

const [url, mode, ...args] = Deno.args;

async function post(deltas: Envelope[]): Promise<{ status: number; accepted: number }> {
  const response = await fetch(`${url}/v1/deltas`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    return { status: response.status, accepted: 0 };
  }
  const { results } = await response.json() as { results: { status: string }[] };
  return { status: 200, accepted: results.filter((r) => r.status === "accepted").length };
}

async function throughput(total: number, batch: number, concurrency: number) {
  const authors = await benchAuthors(200);
  const envelopes = await signedEnvelopes(
    authors,
    `load-${crypto.randomUUID().slice(0, 8)}`,
    total,
  );
  const batches: Envelope[][] = [];
  for (let i = 0; i < envelopes.length; i += batch) batches.push(envelopes.slice(i, i + batch));
  let next = 0, accepted = 0, failed = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < batches.length) {
      const r = await post(batches[next++]);
      accepted += r.accepted;
      if (r.status !== 200) failed++;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  return {
    mode: "throughput",
    deltas: total,
    batch,
    concurrency,
    accepted,
    failed_requests: failed,
    seconds: Number(seconds.toFixed(3)),
    accepted_per_s: Math.round(accepted / seconds),
  };
}

async function latency(rate: number, seconds: number) {
  const count = Math.round(rate * seconds);
  const authors = await benchAuthors(50);
  const envelopes = await signedEnvelopes(authors, `lat-${crypto.randomUUID().slice(0, 8)}`, count);
  const latencies: number[] = [];
  let failed = 0;
  const started = performance.now();
  // Open loop: request i is sent at started + i/rate whatever happened to earlier ones.
  await Promise.all(envelopes.map(async (envelope, i) => {
    const due = started + (i * 1000) / rate;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    const t = performance.now();
    const r = await post([envelope]);
    latencies.push(performance.now() - t);
    if (r.status !== 200 || r.accepted !== 1) failed++;
  }));
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    Number(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(2));
  return {
    mode: "latency",
    requests: count,
    rate_per_s: rate,
    failed,
    p50_ms: q(0.5),
    p90_ms: q(0.9),
    p99_ms: q(0.99),
    max_ms: q(1),
  };
}

const result = mode === "throughput"
  ? await throughput(Number(args[0] ?? 20000), Number(args[1] ?? 100), Number(args[2] ?? 4))
  : await latency(Number(args[0] ?? 200), Number(args[1] ?? 10));
console.log(JSON.stringify(result));
