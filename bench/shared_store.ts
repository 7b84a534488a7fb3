/**
 * Many instances, one region (issue 13): N processes, each a store instance of its own on one
 * shared store — a Deno KV file (SQLite; on Deno Deploy it would be FoundationDB) or Upstash
 * (the local REST server in front of redis-server) — push deltas at once. Counts, per commit,
 * the attempts that lost a race (a checked counter changed: `conflicts`; SQLite's lock held by
 * another process: `locked`), then checks that nothing was lost: every accepted id is stored,
 * each channel's arrivals run 1..n without gaps, and the region log holds each id once without
 * gaps.
 *
 *   deno run -A bench/shared_store.ts [--store all|denokv,kvhandle,upstash] [--instances 4]
 *     [--deltas 4000] [--agents 8] [--batch 5] [--workload disjoint|shared|both] [--runs 1]
 *
 * `--store kvhandle` runs the N instances in this process as N `DenoKvStore`s (each its own
 * caches and group-commit queue) over one Deno KV handle: no SQLite lock between them, only the
 * versionstamp checks — how instances meet on Deno Deploy's FoundationDB, where a commit whose
 * checked key changed fails and is retried.
 *
 * Workloads: `disjoint` — each instance writes its own 16 channels (only region-wide keys can
 * collide); `shared` — every instance writes any of 64 channels (a channel's own counter
 * collides too, by design).
 */
import { parseArgs } from "node:util";
import { DenoKvStore } from "../src/store/deno_kv_store.ts";
import type { RegionStore } from "../src/store/region_store.ts";
import { UpstashStore } from "../src/store/upstash_store.ts";
import { startUpstashEnv } from "../test/support/upstash_rest_server.ts";
import { runWriter, type WriterConfig, type WriterReport } from "./_shared_store_writer.ts";
import { readWholeLog } from "./_shared_store_log.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    store: { type: "string", default: "all" },
    workload: { type: "string", default: "both" },
    instances: { type: "string", default: "4" },
    deltas: { type: "string", default: "4000" },
    agents: { type: "string", default: "8" },
    batch: { type: "string", default: "5" },
    runs: { type: "string", default: "1" },
  },
});
const args = {
  store: values.store,
  workload: values.workload,
  instances: Number(values.instances),
  deltas: Number(values.deltas),
  agents: Number(values.agents),
  batch: Number(values.batch),
  runs: Number(values.runs),
};
const stores = args.store === "all" ? ["denokv", "kvhandle", "upstash"] : args.store.split(",");
const workloads = args.workload === "both" ? ["disjoint", "shared"] : [args.workload];

interface Target {
  readonly config: Pick<WriterConfig, "store" | "path" | "url" | "token">;
  open(): Promise<RegionStore>;
  stop(): Promise<void>;
  /** Set when the instances run in this process over one shared Deno KV handle. */
  readonly kv?: Deno.Kv;
}

async function target(kind: string): Promise<Target> {
  if (kind === "kvhandle") {
    const dir = await Deno.makeTempDir({ prefix: "shared-store-" });
    const kv = await Deno.openKv(`${dir}/region.kv`);
    return {
      config: { store: "denokv" },
      kv,
      open: () => Promise.resolve(new DenoKvStore(kv, { ownsKv: false })),
      stop: async () => {
        kv.close();
        await Deno.remove(dir, { recursive: true });
      },
    };
  }
  if (kind === "denokv") {
    const dir = await Deno.makeTempDir({ prefix: "shared-store-" });
    const path = `${dir}/region.kv`;
    return {
      config: { store: "denokv", path },
      open: () => DenoKvStore.open(path),
      stop: () => Deno.remove(dir, { recursive: true }),
    };
  }
  const env = await startUpstashEnv();
  const { url, token } = env.rest;
  return {
    config: { store: "upstash", url, token },
    open: () => Promise.resolve(new UpstashStore({ url, token })),
    stop: () => env.stop(),
  };
}

function channelsOf(workload: string, instance: number): string[] {
  return workload === "disjoint"
    ? Array.from({ length: 16 }, (_, c) => `i${instance}-c${c}`)
    : Array.from({ length: 64 }, (_, c) => `c${c}`);
}

const configOf = (t: Target, workload: string, instance: number): WriterConfig => ({
  ...t.config,
  instance,
  deltas: args.deltas,
  agents: args.agents,
  batch: args.batch,
  channels: channelsOf(workload, instance),
  seed: 1_000 + instance,
});

/** The instances as stores of this process over one handle, let go at once. */
async function runInProcess(t: Target, workload: string): Promise<WriterReport[]> {
  let go!: () => void;
  const started = new Promise<void>((resolve) => go = resolve);
  const stores = await Promise.all(Array.from({ length: args.instances }, () => t.open()));
  const runs = stores.map((store, i) => runWriter(store, configOf(t, workload, i), started));
  go();
  const reports = await Promise.all(runs);
  await Promise.all(stores.map((s) => s.close()));
  return reports;
}

/** Starts the writers, lets them go at once, and collects their reports. */
async function runWriters(t: Target, workload: string): Promise<WriterReport[]> {
  if (t.kv !== undefined) return await runInProcess(t, workload);
  const url = new URL("./_shared_store_writer.ts", import.meta.url);
  const children = Array.from({ length: args.instances }, (_, instance) => {
    const config = configOf(t, workload, instance);
    return new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", url.pathname, JSON.stringify(config)],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
  });
  const lines = children.map((child) =>
    child.stdout.pipeThrough(new TextDecoderStream()).getReader()
  );
  const buffers = children.map(() => "");
  const nextLine = async (i: number): Promise<string> => {
    for (;;) {
      const at = buffers[i].indexOf("\n");
      if (at >= 0) {
        const line = buffers[i].slice(0, at);
        buffers[i] = buffers[i].slice(at + 1);
        return line;
      }
      const { value, done } = await lines[i].read();
      if (done) throw new Error(`writer ${i} ended early`);
      buffers[i] += value;
    }
  };
  await Promise.all(children.map((_, i) => nextLine(i))); // every writer is ready
  const go = new TextEncoder().encode("go\n");
  await Promise.all(children.map(async (child) => {
    const w = child.stdin.getWriter();
    await w.write(go);
    await w.close();
  }));
  const reports = await Promise.all(children.map(async (_, i) => JSON.parse(await nextLine(i))));
  await Promise.all(children.map((c) => c.status));
  return reports;
}

/** Every accepted id stored, arrivals gapless per channel, the log gapless with each id once. */
async function verify(store: RegionStore, reports: WriterReport[]): Promise<string> {
  const expected = new Map<string, Set<string>>();
  for (const r of reports) {
    for (const [channel, id] of r.ids) {
      if (!expected.has(channel)) expected.set(channel, new Set());
      expected.get(channel)!.add(id);
    }
  }
  let total = 0;
  for (const [channel, ids] of expected) {
    const seen: string[] = [];
    for (let after = 0;;) {
      const page = await store.listArrivals(channel, after, 1_000);
      page.deltas.forEach((d, i) => {
        if (d.arrival !== after + i + 1) throw new Error(`${channel}: arrival gap at ${d.arrival}`);
      });
      seen.push(...page.deltas.map((d) => d.id));
      after = page.cursor;
      if (!page.more) break;
    }
    if (seen.length !== ids.size || !seen.every((id) => ids.has(id))) {
      throw new Error(`${channel}: ${seen.length} stored, ${ids.size} accepted`);
    }
    total += seen.length;
  }
  const log = await readWholeLog(store);
  if (log.ids.size !== total || log.entries !== total) {
    throw new Error(`log holds ${log.entries} entries (${log.ids.size} ids), ${total} accepted`);
  }
  return `ok: ${total} deltas, arrivals and log gapless (${log.segments})`;
}

const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
};

async function runOnce(kind: string, workload: string): Promise<void> {
  const t = await target(kind);
  try {
    const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
    const reports = await runWriters(t, workload);
    const store = await t.open();
    const check = await verify(store, reports);
    await store.close();
    const sum = (k: string) => reports.reduce((n, r) => n + (r.stats[k] ?? 0), 0);
    const accepted = reports.reduce((n, r) => n + r.accepted, 0);
    const failed = reports.reduce((n, r) => n + r.failed, 0);
    const seconds = Math.max(...reports.map((r) => r.ms)) / 1000;
    const putMs = reports.flatMap((r) => r.putMs);
    const per = (k: string, of: string) => (sum(k) / Math.max(1, sum(of))).toFixed(2);
    const counts = kind !== "upstash"
      ? `commits ${sum("commits")}, attempts/commit ${per("attempts", "commits")}, ` +
        `conflicts/commit ${per("conflicts", "commits")}, locked/commit ${per("locked", "commits")}`
      : `requests ${sum("requests")}, script calls ${sum("scriptCalls")}, resent ${sum("resent")}`;
    console.log(
      `${kind} ${workload} ×${args.instances}: ${accepted} accepted in ${seconds.toFixed(2)} s = ` +
        `${Math.round(accepted / seconds)}/s; put p50 ${pct(putMs, 0.5).toFixed(1)} ms, ` +
        `p99 ${pct(putMs, 0.99).toFixed(1)} ms; puts failed (503) ${failed}; ${counts}; ` +
        `${check}; load ${load}`,
    );
  } finally {
    await t.stop();
  }
}

for (let run = 0; run < args.runs; run++) {
  for (const kind of stores) {
    for (const workload of workloads) await runOnce(kind, workload);
  }
}
