/**
 * Hot path without storage: request text → parse → validate → verify → apply, for pushes of 100
 * deltas, against bare WebCrypto verification of the same deltas measured in the same process,
 * interleaved round by round (the machine is shared and noisy; the ratio is what we track).
 *
 *   taskset -c 0 deno run -A bench/hot_path.ts        # one core, as the issue asks
 *
 * Prints one JSON line: deltas/s of each and the ratio (hot path / bare verify; goal ≥ 0.6).
 */
import { ChannelState } from "../src/crdt/channel_state.ts";
import { verifyEd25519 } from "../src/crypto/mod.ts";
import { decodeBase64Url } from "../src/protocol/base64url.ts";
import { signedMessage } from "../src/protocol/delta.ts";
import { parseEnvelope } from "../src/protocol/envelope.ts";
import { utf8Encode } from "../src/protocol/utf8.ts";
import { benchAuthors, signedEnvelopes } from "./_signed_batches.ts";

const BATCH = 100;
const BATCHES = 40; // per round
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 7);

const authors = await benchAuthors(100);
const envelopes = await signedEnvelopes(authors, "bench", BATCH * BATCHES);
const requests = Array.from(
  { length: BATCHES },
  (_, b) => JSON.stringify({ deltas: envelopes.slice(b * BATCH, (b + 1) * BATCH) }),
);
// Baseline inputs: what bare verification needs, prepared outside the timed loop.
const keys = new Map<string, CryptoKey>();
for (const a of authors) {
  keys.set(
    a.id,
    await crypto.subtle.importKey("raw", decodeBase64Url(a.id)!, "Ed25519", false, ["verify"]),
  );
}
const bare = envelopes.map((e) => {
  const author = JSON.parse(e.body).author as string;
  return {
    key: keys.get(author)!,
    sig: decodeBase64Url(e.sig)!,
    msg: signedMessage(utf8Encode(e.body)),
  };
});

async function bareVerify(): Promise<number> {
  const t = performance.now();
  for (let b = 0; b < BATCHES; b++) {
    const slice = bare.slice(b * BATCH, (b + 1) * BATCH);
    const ok = await Promise.all(
      slice.map((x) => crypto.subtle.verify("Ed25519", x.key, x.sig, x.msg)),
    );
    if (!ok.every(Boolean)) throw new Error("baseline verify failed");
  }
  return performance.now() - t;
}

async function hotPath(): Promise<number> {
  const state = new ChannelState("bench");
  const now = Date.now();
  const t = performance.now();
  for (const text of requests) {
    const { deltas } = JSON.parse(text) as { deltas: unknown[] };
    const parsed = deltas.map((d) => parseEnvelope(d, now));
    const ok = await Promise.all(
      parsed.map((p) => p.ok ? verifyEd25519(p.publicKey, p.signature, p.message) : false),
    );
    parsed.forEach((p, i) => {
      if (!p.ok || !ok[i]) throw new Error("hot path rejected a valid delta");
      state.apply(p.delta);
    });
  }
  const elapsed = performance.now() - t;
  if (state.size !== BATCH * BATCHES) throw new Error("not every delta was applied");
  return elapsed;
}

await bareVerify(); // warm up both paths (JIT, key caches)
await hotPath();
const bareMs: number[] = [], hotMs: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  bareMs.push(await bareVerify());
  hotMs.push(await hotPath());
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const n = BATCH * BATCHES;
const bareRate = n / median(bareMs) * 1000;
const hotRate = n / median(hotMs) * 1000;
console.log(JSON.stringify({
  bench: "hot_path",
  deltas_per_round: n,
  rounds: ROUNDS,
  bare_webcrypto_verify_per_s: Math.round(bareRate),
  hot_path_per_s: Math.round(hotRate),
  ratio: Number((hotRate / bareRate).toFixed(3)),
}));
