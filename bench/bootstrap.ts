/**
 * Catch-up of a new, empty region (issue 13): a peer region holds `--deltas` signed deltas in
 * Deno KV; a fresh region with an empty store joins the topology, and the bench times how long it
 * takes to hold them all, with the bulk copy (`MESH_BOOTSTRAP=auto`, docs/protocol.md §26) and
 * with today's path alone (`MESH_BOOTSTRAP=off`: anti-entropy, range reconciliation then fetches
 * of 2,000 deltas a session). Both regions are real `main.ts` processes on loopback.
 *
 *   nice -n 19 deno run -A bench/bootstrap.ts [--deltas 1000000] [--mode bulk|antientropy|both]
 *     [--timeout-s 1800] [--dir /tmp/bootstrap_bench]
 *
 * The peer's store is built once per size and reused (`<dir>/fixture-<n>/eu-1.kv`): envelopes
 * signed with WebCrypto by 1,000 authors over 100 channels (typical three-op deltas), stored with
 * `putDeltas` and origin `sync` — a reset region's situation: its peers' fan-out cursors are past
 * those deltas, so only the bootstrap or anti-entropy can bring them. The peer is started first and
 * waited for until its index holds them all. Then the fresh region starts (the clock starts with
 * its process) and `/v1/status` is polled every second until its `deltas` reach the peer's and the
 * fingerprints agree, or `--timeout-s` passes (then the rate so far is reported). RSS of both
 * processes and the CPU seconds each used meanwhile (from /proc), and the 1-minute load average
 * are sampled each second.
 *
 * Prints one JSON line per run, then a summary line.
 */
import { parseArgs } from "node:util";
import { deltaId } from "../src/protocol/delta.ts";
import { utf8Encode } from "../src/protocol/utf8.ts";
import { channelDirectoryOf } from "../src/views/channel_directory.ts";
import { DenoKvStore } from "../src/store/deno_kv_store.ts";
import type { StoredDelta } from "../src/store/region_store.ts";
import {
  pairInOneZone,
  type RegionProcess,
  startRegionProcess,
} from "../test/support/region_process.ts";
import { benchAuthors, signNext, typicalOps } from "./_signed_batches.ts";

const AUTHORS = 1_000;
const CHANNELS = 100;
const SIGN_BATCH = 2_000;
const PUT_BATCH = 1_000;
const POLL_MS = 1_000;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    deltas: { type: "string", default: "1000000" },
    mode: { type: "string", default: "both" },
    "timeout-s": { type: "string", default: "1800" },
    dir: { type: "string", default: "/tmp/bootstrap_bench" },
  },
});
const DELTAS = Number(values.deltas);
const TIMEOUT_MS = Number(values["timeout-s"]) * 1_000;

/** Builds (or reuses) the peer's store of `n` signed deltas; returns its directory. */
async function fixture(n: number): Promise<string> {
  const dir = `${values.dir}/fixture-${n}`;
  const built = await Deno.readTextFile(`${dir}/built.json`).catch(() => null);
  if (built !== null && JSON.parse(built).deltas === n) return dir;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const started = performance.now();
  const store = await DenoKvStore.open(`${dir}/eu-1.kv`);
  const authors = await benchAuthors(AUTHORS);
  await channelDirectoryOf(store).record(Array.from({ length: CHANNELS }, (_, c) => `ch-${c}`));
  for (let done = 0; done < n;) {
    const size = Math.min(SIGN_BATCH, n - done);
    const envelopes = await Promise.all(Array.from({ length: size }, (_, k) => {
      const i = done + k;
      const author = authors[i % AUTHORS];
      return signNext(author, `ch-${(i * 7 + (i % AUTHORS)) % CHANNELS}`, typicalOps(i))
        .then((e) => ({ e, author: author.id }));
    }));
    const stored: StoredDelta[] = envelopes.map(({ e, author }) => {
      const body = JSON.parse(e.body);
      return {
        id: deltaId(utf8Encode(e.body)),
        channel: body.channel,
        author,
        seq: body.seq,
        ...e,
      };
    });
    for (let i = 0; i < stored.length; i += PUT_BATCH) {
      await store.putDeltas(stored.slice(i, i + PUT_BATCH), "sync");
    }
    done += size;
    if (done % 100_000 === 0) console.error(`fixture: ${done}/${n}`);
  }
  await store.close();
  const seconds = (performance.now() - started) / 1000;
  await Deno.writeTextFile(`${dir}/built.json`, JSON.stringify({ deltas: n, seconds }));
  console.error(`fixture of ${n} built in ${seconds.toFixed(0)} s`);
  return dir;
}

function rssMb(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) the process has used so far. */
function cpuS(pid: number): number {
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks
  } catch {
    return 0;
  }
}

function load1(): number {
  return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
}

async function status(region: RegionProcess) {
  const response = await fetch(`${region.url}/v1/status`);
  return await response.json() as { deltas: number; fingerprint: string };
}

/** One catch-up run: the fresh region's bootstrap `mode` (auto or off) against the fixture. */
async function run(name: string, bootstrap: string, fixtureDir: string) {
  const runDir = await Deno.makeTempDir({ dir: values.dir, prefix: `run-${name}-` });
  const pair = await pairInOneZone(runDir);
  const env = (id: "eu-1" | "eu-2", data: string) => ({
    ...pair.env(id),
    MESH_DATA: data,
    MESH_LOG_LEVEL: "warn",
    MESH_BOOTSTRAP: id === "eu-1" ? "off" : bootstrap,
  });
  const peer = await startRegionProcess(env("eu-1", fixtureDir));
  let fresh: RegionProcess | null = null;
  try {
    const target = await waitForPeer(peer);
    const started = performance.now();
    fresh = await startRegionProcess(env("eu-2", `${runDir}/eu-2`));
    const result = await follow(peer, fresh, target, started);
    return { name, bootstrap, ...result };
  } finally {
    await fresh?.stop();
    await peer.stop();
    await Deno.remove(runDir, { recursive: true }).catch(() => {});
  }
}

/** Waits until the peer's index holds every delta of its store; its set's size and fingerprint. */
async function waitForPeer(peer: RegionProcess) {
  for (;;) {
    const s = await status(peer);
    if (s.deltas >= DELTAS) return s;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function follow(
  peer: RegionProcess,
  fresh: RegionProcess,
  target: { deltas: number; fingerprint: string },
  started: number,
) {
  const samples = { rss: 0, peerRss: 0, loads: [] as number[], cpu: 0, peerCpu: 0 };
  const peerCpuBefore = cpuS(peer.pid);
  const marks: Record<string, number> = {};
  let held = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    const elapsedS = (performance.now() - started) / 1000;
    samples.rss = Math.max(samples.rss, rssMb(fresh.pid));
    samples.peerRss = Math.max(samples.peerRss, rssMb(peer.pid));
    samples.loads.push(load1());
    samples.cpu = Math.max(samples.cpu, cpuS(fresh.pid));
    samples.peerCpu = Math.max(samples.peerCpu, cpuS(peer.pid) - peerCpuBefore);
    const s = await status(fresh).catch(() => null);
    if (s === null) continue;
    held = s.deltas;
    for (const share of [0.5, 0.9]) {
      if (held >= share * target.deltas) marks[`t${share * 100}S`] ??= elapsedS;
    }
    const done = held >= target.deltas && s.fingerprint === target.fingerprint;
    if (done || elapsedS * 1000 > TIMEOUT_MS) {
      const loads = samples.loads;
      return {
        deltas: target.deltas,
        held,
        converged: done,
        wallS: Number(elapsedS.toFixed(1)),
        deltasPerS: Math.round(held / elapsedS),
        ...marks,
        freshRssMaxMb: Math.round(samples.rss),
        peerRssMaxMb: Math.round(samples.peerRss),
        freshCpuS: Number(samples.cpu.toFixed(1)),
        peerCpuS: Number(samples.peerCpu.toFixed(1)),
        load1: {
          min: Math.min(...loads),
          max: Math.max(...loads),
          mean: Number((loads.reduce((a, b) => a + b, 0) / loads.length).toFixed(2)),
        },
      };
    }
  }
}

await Deno.mkdir(values.dir, { recursive: true });
const dir = await fixture(DELTAS);
const modes = values.mode === "both"
  ? [["bulk", "auto"], ["antientropy", "off"]]
  : [[values.mode, values.mode === "bulk" ? "auto" : "off"]];
const results = [];
for (const [name, bootstrap] of modes) {
  const result = await run(name, bootstrap, dir);
  console.log(JSON.stringify(result));
  results.push(result);
}
console.log(JSON.stringify({
  summary: "bootstrap",
  deltas: DELTAS,
  date: new Date().toISOString(),
  runs: results.map((r) => ({ name: r.name, wallS: r.wallS, deltasPerS: r.deltasPerS })),
}));
