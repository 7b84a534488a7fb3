/**
 * Blobs, timed and weighed, between real region processes (eu-1 | us-1, two zones, each its own
 * Deno KV file, direct loopback links), through the SDK (`MeshClient.putBlob/getBlob`, which
 * checks every whole blob's hash):
 * 1. One region: a 10 MiB blob uploaded to eu-1 (signed PUT + its signed `_blobs` metadata), then
 *    read back whole from eu-1. Target: PUT + GET < 500 ms.
 * 2. Across regions: a 10 MiB blob uploaded to eu-1, then read whole from us-1 — which first
 *    waits for the metadata to arrive (fan-out), then pulls the blob from eu-1, checks its hash,
 *    stores it and serves it. Target: PUT + GET < 500 ms. A second read on us-1 is local.
 * 3. Memory: a region's resident memory (VmRSS, sampled every 5 ms from /proc), its peak rise
 *    over the value before, while `BENCH_PARALLEL` (default 4) clients at once each upload a
 *    different 16 MiB blob to eu-1; then while us-1 pulls them all at once (a HEAD each: pulled
 *    from eu-1, hash-checked, stored, no body served); then while us-1 serves them all at once.
 *    A region that held whole blobs per request would rise by at least parallel × 16 MiB.
 * 4. Live memory (with `--v8-flags=--expose-gc` only): in this process, one 16 MiB blob
 *    received into a Deno KV store from a stream of 64 KiB pieces and then read back as a
 *    stream, with a full GC every 1 MiB: the peak of the bytes still alive (V8's `external`)
 *    above the value before. RSS in phase 3 also counts garbage not yet collected; this does not.
 *
 *   deno run -A --v8-flags=--expose-gc bench/blobs.ts
 *
 * Prints one JSON object. Client and regions share the machine's cores. The regions' byte
 * budgets are lifted (the bench sends ~200 MiB from one key in seconds).
 */
import { Agent } from "../src/client/agent.ts";
import { MeshClient } from "../src/client/mesh_client.ts";
import { AgentKey } from "../src/crypto/agent_key.ts";
import { blobStream } from "../src/blobs/read_stream.ts";
import { receiveBlob, toHex } from "../src/blobs/receive.ts";
import { createSha256 } from "../src/crypto/sha256.ts";
import { DenoKvStore } from "../src/store/deno_kv_store.ts";
import { TestMesh } from "../test/support/mesh_processes.ts";

const SAMPLES = Number(Deno.env.get("BENCH_SAMPLES") ?? 7);
const PARALLEL = Number(Deno.env.get("BENCH_PARALLEL") ?? 4);
const MIB = 1024 * 1024;

const quantiles = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1);
  return { n: s.length, p50: q(0.5), max: q(1), min: q(0) };
};

function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65_536) crypto.getRandomValues(bytes.subarray(at, at + 65_536));
  return bytes;
}

function rssMb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** Samples `pid`'s VmRSS every 5 ms while `work` runs; the peak and the value before. */
async function peakRss(pid: number, work: () => Promise<unknown>) {
  const before = rssMb(pid);
  let peak = before;
  const timer = setInterval(() => peak = Math.max(peak, rssMb(pid)), 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return {
    beforeMb: Math.round(before),
    peakMb: Math.round(peak),
    riseMb: Math.round(peak - before),
  };
}

/** Reads `sha` from `client` until it answers (the metadata may still be on its way). */
async function readWhenThere(client: MeshClient, sha: string): Promise<Uint8Array> {
  for (let attempt = 0;; attempt++) {
    try {
      return await client.getBlob(sha);
    } catch (error) {
      if (attempt > 400 || (error as { status?: number }).status !== 404) throw error;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/** Phase 4: the live bytes (after a full GC) while one 16 MiB blob streams in and out. */
async function liveMemory(): Promise<{ uploadMiB: number; serveMiB: number } | null> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return null;
  const dir = await Deno.makeTempDir({ prefix: "blob-bench-" });
  const store = await DenoKvStore.open(`${dir}/live.kv`);
  try {
    const piece = randomBytes(65_536);
    const pieces = (16 * MIB) / piece.length;
    const hash = createSha256();
    for (let i = 0; i < pieces; i++) hash.update(piece);
    let peak = 0, base = 0, n = 0;
    const sample = () => {
      gc();
      peak = Math.max(peak, Deno.memoryUsage().external - base);
    };
    gc();
    base = Deno.memoryUsage().external;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (n++ === pieces) return controller.close();
        if (n % 16 === 0) sample();
        controller.enqueue(piece.slice());
      },
    });
    const received = await receiveBlob(store.blobs, toHex(hash.digest()), body, {
      nowMs: Date.now(),
      bytesMax: 16 * MIB,
    });
    if (received.status !== "stored") throw new Error(received.status);
    const uploadMiB = +(peak / MIB).toFixed(2);
    [peak, n] = [0, 0];
    const { record } = received;
    for await (const _ of blobStream(store.blobs, record, 0, record.size - 1)) sample();
    return { uploadMiB, serveMiB: +(peak / MIB).toFixed(2) };
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const live = await liveMemory();
const mesh = await TestMesh.start({
  regions: [{ id: "eu-1", zone: "eu" }, { id: "us-1", zone: "us" }],
  directLinks: true,
  // The bench uploads ~200 MiB in seconds from one key and address: lift the byte budgets.
  env: () => ({
    MESH_BLOB_AUTHOR_BYTES_PER_S: "1e9",
    MESH_BLOB_AUTHOR_BURST_BYTES: "1e9",
    MESH_BLOB_ADDRESS_BYTES_PER_S: "1e9",
    MESH_BLOB_ADDRESS_BURST_BYTES: "1e9",
  }),
});
try {
  await mesh.untilEvery("leaders elected", (s) => s.leader?.self === true, 15_000);
  const eu = new MeshClient(mesh.region("eu-1").url);
  const us = new MeshClient(mesh.region("us-1").url);
  const agent = new Agent(AgentKey.generate());
  const equal = (a: Uint8Array, b: Uint8Array) =>
    a.length === b.length && a.every((x, i) => x === b[i]);
  await readWhenThere(us, (await eu.putBlob(agent, randomBytes(1_000), { name: "warm" })).sha256);

  const one = { put: [] as number[], get: [] as number[], total: [] as number[] };
  const across = {
    put: [] as number[],
    get: [] as number[],
    total: [] as number[],
    local: [] as number[],
  };
  for (let i = 0; i < SAMPLES; i++) {
    for (const [into, reader] of [[one, eu], [across, us]] as const) {
      const bytes = randomBytes(10 * MIB);
      const t0 = performance.now();
      const put = await eu.putBlob(agent, bytes, { name: `b${i}` });
      const t1 = performance.now();
      const got = await readWhenThere(reader, put.sha256);
      const t2 = performance.now();
      if (!equal(got, bytes) || put.ref.status !== "accepted") throw new Error("bad round trip");
      into.put.push(t1 - t0);
      into.get.push(t2 - t1);
      into.total.push(t2 - t0);
      if (into === across) {
        const t3 = performance.now();
        await us.getBlob(put.sha256);
        across.local.push(performance.now() - t3);
      }
    }
  }

  const blobs = Array.from({ length: PARALLEL }, () => randomBytes(16 * MIB));
  const agents = blobs.map(() => new Agent(AgentKey.generate()));
  let shas: string[] = [];
  const upload = await peakRss(mesh.region("eu-1").process!.pid, async () => {
    shas = (await Promise.all(blobs.map((b, i) => eu.putBlob(agents[i], b, { name: "m" }))))
      .map((p) => p.sha256);
  });
  const usPid = mesh.region("us-1").process!.pid;
  await mesh.until("metadata on us-1", async () => {
    const view = await us.view("_blobs");
    return Object.keys(view.map).length >= 2 * SAMPLES + 1 + PARALLEL;
  }, 10_000);
  // A HEAD pulls the blob (from eu-1, hash-checked, into us-1's store) without serving a body.
  const pull = await peakRss(usPid, () =>
    Promise.all(shas.map(async (sha) => {
      const head = await fetch(`${us.url}/v1/blobs/${sha}`, { method: "HEAD" });
      if (head.status !== 200) throw new Error(`HEAD answered ${head.status}`);
    })));
  const serve = await peakRss(usPid, async () => {
    const got = await Promise.all(shas.map((sha) => us.getBlob(sha)));
    if (!got.every((g, i) => equal(g, blobs[i]))) throw new Error("bad parallel read");
  });
  console.log(JSON.stringify(
    {
      date: new Date().toISOString(),
      cores: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
      blobMiB: 10,
      oneRegionMs: {
        put: quantiles(one.put),
        get: quantiles(one.get),
        total: quantiles(one.total),
      },
      acrossRegionsMs: {
        put: quantiles(across.put),
        firstGet: quantiles(across.get),
        total: quantiles(across.total),
        laterGet: quantiles(across.local),
      },
      memory: {
        parallel: PARALLEL,
        blobMiB: 16,
        uploadEu1: upload,
        pullUs1: pull,
        serveUs1: serve,
      },
      liveBytesAfterGcMiB: live,
    },
    null,
    2,
  ));
} finally {
  await mesh.stop();
}
