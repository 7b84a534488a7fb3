/**
 * The floor under one hop on this machine: what bench/hop.ts's one hop costs when nothing but the
 * work it cannot skip is done. Two server processes on loopback, each with its own Deno KV; the
 * bench process pushes one signed delta at a time to the first and long-polls the second:
 *
 *   client --POST--> a: verify the delta's Ed25519 signature (node:crypto), start one Deno KV
 *                       commit, sign a region message and POST it to b, answer after the commit
 *   a      --POST--> b: verify the region signature and the delta's, one Deno KV commit, then
 *                       answer the client's waiting GET
 *
 * No framework, no schema checks, no rate limits, no quarantine, no nonce claim or epoch fence, no
 * view fold, no telemetry, no background jobs, no third region. Prints p50/p90/p99 as JSON.
 *
 *   deno run -A bench/hop_floor.ts            # BENCH_SAMPLES (default 300)
 *
 * `BENCH_WARMUP` samples are taken first and not counted (default 500, as bench/hop.ts).
 */
import { AgentKey } from "../src/crypto/agent_key.ts";
import { verifyEd25519 } from "../src/crypto/mod.ts";
import { decodeBase64Url, encodeBase64Url } from "../src/protocol/base64url.ts";
import { freePort } from "../test/support/region_process.ts";

const SAMPLES = Number(Deno.env.get("BENCH_SAMPLES") ?? 300);
const WARM_UP = Number(Deno.env.get("BENCH_WARMUP") ?? 500);
const encoder = new TextEncoder();

/** One server of the floor: `a` forwards to `peer`, `b` (no peer) answers waiting GETs. */
async function serve(port: number, dir: string, peer: string | null) {
  const kv = await Deno.openKv(`${dir}/kv`);
  const key = AgentKey.generate();
  let seq = 0;
  const waiting: ((id: string) => void)[] = [];
  const verified = async (body: string, sig: string, author: string) =>
    await verifyEd25519(decodeBase64Url(author)!, decodeBase64Url(sig)!, encoder.encode(body));
  Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (request) => {
    if (request.method === "HEAD") return new Response(null); // up
    if (request.method === "GET") {
      return new Response(await new Promise<string>((resolve) => waiting.push(resolve)));
    }
    const message = await request.json();
    const delta = message.delta ?? message;
    if (message.delta !== undefined) {
      const from = request.headers.get("x-region-key")!;
      const ok = await verified(message.body, request.headers.get("x-region-sig")!, from);
      if (!ok) return new Response("bad region signature", { status: 403 });
    }
    const { id, author } = JSON.parse(delta.body);
    if (!await verified(delta.body, delta.sig, author)) return new Response("bad", { status: 400 });
    const commit = kv.atomic().check({ key: ["d", id], versionstamp: null })
      .set(["d", id], delta).set(["log", ++seq], id).commit();
    if (peer !== null) {
      const body = JSON.stringify({ v: 1, deltas: [delta] });
      const sig = encodeBase64Url(await key.signAsync(encoder.encode(body)));
      fetch(`${peer}/`, {
        method: "POST",
        headers: { "x-region-key": key.id, "x-region-sig": sig },
        body: JSON.stringify({ body, delta }),
      }).then((r) => r.body?.cancel());
    }
    await commit;
    if (peer === null) { for (const resolve of waiting.splice(0)) resolve(id); }
    return new Response("ok");
  });
}

if (Deno.args[0] === "serve") {
  await serve(Number(Deno.args[1]), Deno.args[2], Deno.args[3] ?? null);
} else {
  const dir = await Deno.makeTempDir({ prefix: "hop-floor-" });
  const [a, b] = [freePort(), freePort()];
  const start = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-kv", import.meta.filename!, "serve", ...args],
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  await Deno.mkdir(`${dir}/a`);
  await Deno.mkdir(`${dir}/b`);
  const servers = [
    start(String(b), `${dir}/b`),
    start(String(a), `${dir}/a`, `http://127.0.0.1:${b}`),
  ];
  try {
    console.log(JSON.stringify({ bench: "hop_floor", ...await measure(a, b) }, null, 1));
  } finally {
    for (const s of servers) s.kill();
    await Promise.all(servers.map((s) => s.status));
    await Deno.remove(dir, { recursive: true });
  }
}

async function measure(a: number, b: number) {
  for (const port of [a, b]) await until(`http://127.0.0.1:${port}/`);
  const agent = AgentKey.generate();
  const visible: number[] = [], answered: number[] = [];
  for (let i = 0; i < SAMPLES + WARM_UP; i++) {
    const waited = fetch(`http://127.0.0.1:${b}/`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 10 + Math.random() * 10));
    const body = JSON.stringify({ id: crypto.randomUUID(), author: agent.id, ops: [{ n: i }] });
    const sig = encodeBase64Url(agent.sign(encoder.encode(body)));
    const started = performance.now();
    const pushed = fetch(`http://127.0.0.1:${a}/`, {
      method: "POST",
      body: JSON.stringify({ body, sig }),
    })
      .then((r) => r.text()).then(() => performance.now() - started);
    await waited;
    const seen = performance.now() - started;
    if (i >= WARM_UP) [visible.push(seen), answered.push(await pushed)];
    else await pushed;
  }
  return {
    samples: SAMPLES,
    warmup: WARM_UP,
    visible_ms: quantiles(visible),
    push_rtt_ms: quantiles(answered),
  };
}

async function until(url: string) {
  for (let tries = 0; tries < 100; tries++) {
    try {
      await (await fetch(url, { method: "HEAD" })).body?.cancel();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not start`);
}

function quantiles(xs: readonly number[]) {
  const s = [...xs].sort((x, y) => x - y);
  const q = (p: number) => +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(2);
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) };
}
