/**
 * Regions in one process for fast mesh tests: each region is the real Hono app with a real
 * MeshNode over a MemoryStore, and `fetch` between them is routed to the apps in memory. The
 * clock is the test's; jobs run only when the test calls the ticks.
 */
import type { Hono } from "hono";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import type { VerifyFn } from "../../src/protocol/result.ts";
import type { AdmissionPolicy } from "../../src/guard/admission.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { MeshNode } from "../../src/mesh/mesh_node.ts";
import { PEER_REQUEST_TIMEOUT_MS, PeerClient } from "../../src/mesh/peer_client.ts";
import { RegionIndex } from "../../src/mesh/region_index.ts";
import { Registry } from "../../src/registry/registry.ts";
import { Topology } from "../../src/mesh/topology.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { REGISTRY_CHANNEL } from "../../src/protocol/agent_card.ts";
import { ChannelViews } from "../../src/views/channel_views.ts";
import { T0_MS } from "./signing.ts";
import { TickScheduler } from "../../src/mesh/tick_scheduler.ts";
import { scheduleMeshJobs } from "../../workers/mesh_jobs.ts";

export interface InProcessRegion {
  readonly id: string;
  readonly app: Hono;
  readonly node: MeshNode;
  readonly store: MemoryStore;
  readonly key: AgentKey;
  readonly registry: Registry;
  /** The region's jobs, when requests drive them (`requestJobs`). */
  readonly jobs?: TickScheduler;
}

/** The bearer token of `POST /v1/jobs/tick` on regions whose jobs requests drive. */
export const JOBS_TOKEN = "in-process-jobs-token";

/**
 * What the simulated network does with one request from region `from` to region `to`:
 * deliver it; drop it (the sender sees a refused connection); deliver it but lose the reply (the
 * receiver acted, the sender sees a failure); or deliver it twice (the sender gets the first reply).
 * A link in `InProcessMesh.hung` neither answers nor refuses: see there.
 */
export type Delivery = "deliver" | "drop" | "lose-reply" | "duplicate";

export interface InProcessMeshOptions {
  /** Decides each request's fate after `cut` let it through; default: always deliver. */
  readonly delivery?: (from: string, to: string, path: string) => Delivery;
  /** Randomness of the nodes' back-off jitter; default Math.random. */
  readonly random?: () => number;
  /**
   * Rewrites a request before it is delivered (a Byzantine region tampering with what it sends,
   * or a compromised answer); default: unchanged.
   */
  readonly intercept?: (from: string, to: string, path: string, init: RequestInit) => RequestInit;
  /** The mesh's admission policy, given to every region's app and node; default: all open. */
  readonly admission?: AdmissionPolicy;
  /** The nodes' `forwardEagerly` (MeshNodeOptions); default true. */
  readonly forwardEagerly?: boolean;
  /**
   * Requests drive each region's jobs (a TickScheduler on the mesh's clock, its pushes running
   * the due lease, heartbeat and fan-out jobs, `POST /v1/jobs/tick`): `cronTick()` is the
   * platform's trigger. Default false (the test calls the jobs through `tick()`).
   */
  readonly requestJobs?: boolean;
  /** The nodes' heartbeat period, in ms; default 250. */
  readonly heartbeatMs?: number;
  /** The nodes' leader lease, in ms; default 3000. */
  readonly leaseTtlMs?: number;
  /**
   * Waits on the simulated clock: the nodes' heartbeat ticks wait for answers until `advance()`
   * moves the clock past their wait, and a request over a `hung` link fails once the clock passed
   * PEER_REQUEST_TIMEOUT_MS after it was sent. For tests that run jobs concurrently with a
   * ClockedScheduler (test/support/clocked_scheduler.ts); `tick()` would wait for ever on a hung
   * link. Default false: real timers.
   */
  readonly clockedWaits?: boolean;
  /** The signature check of every region's app and node; default `verifyEd25519`. */
  readonly verify?: VerifyFn;
}

/** A request over a hung link, or a wait on the simulated clock, until `dueMs` (null: never). */
interface Waiter {
  readonly hung: boolean;
  readonly dueMs: number | null;
  readonly end: () => void;
}

export class InProcessMesh {
  nowMs = T0_MS;
  readonly topology: Topology;
  readonly regions = new Map<string, InProcessRegion>();
  /** Directed links that drop every request, as `"<from>><to>"` (by URL host). */
  readonly cut = new Set<string>();
  /**
   * Directed links that swallow every request, as `"<from>><to>"`: it neither answers nor is
   * refused (a blackhole, as a partition that drops packets), so the sender learns of it only at
   * its timeout — the node's real one, the simulated PEER_REQUEST_TIMEOUT_MS with `clockedWaits`,
   * or `releaseHung()`.
   */
  readonly hung = new Set<string>();
  readonly #waiters = new Set<Waiter>();
  readonly #clocked: boolean;
  readonly #delivery: (from: string, to: string, path: string) => Delivery;
  readonly #random: () => number;
  readonly #intercept: NonNullable<InProcessMeshOptions["intercept"]>;
  readonly #admission: AdmissionPolicy | undefined;
  readonly #forwardEagerly: boolean;
  readonly #requestJobs: boolean;
  readonly #heartbeatMs: number;
  readonly #leaseTtlMs: number;
  readonly #verify: VerifyFn;

  constructor(
    layout: readonly { id: string; zone: string }[],
    options: InProcessMeshOptions = {},
  ) {
    this.#delivery = options.delivery ?? (() => "deliver");
    this.#random = options.random ?? Math.random;
    this.#intercept = options.intercept ?? ((_from, _to, _path, init) => init);
    this.#admission = options.admission;
    this.#forwardEagerly = options.forwardEagerly ?? true;
    this.#requestJobs = options.requestJobs ?? false;
    this.#heartbeatMs = options.heartbeatMs ?? 250;
    this.#leaseTtlMs = options.leaseTtlMs ?? 3_000;
    this.#clocked = options.clockedWaits ?? false;
    this.#verify = options.verify ?? verifyEd25519;
    const keys = new Map(layout.map((r) => [r.id, AgentKey.generate()]));
    const zones = [...new Set(layout.map((r) => r.zone))].map((zone) => ({
      id: zone,
      regions: layout.filter((r) => r.zone === zone).map((r) => ({
        id: r.id,
        url: `http://${r.id}.mesh.test`,
        publicKey: keys.get(r.id)!.id,
      })),
    }));
    this.topology = Topology.parse(JSON.stringify({ v: 1, zones }));
    for (const r of layout) this.add(r.id, keys.get(r.id)!, new MemoryStore(), `${r.id}-i1`);
  }

  /** Adds an instance of region `id` (a second instance shares the store of the first). */
  add(id: string, key: AgentKey, store: MemoryStore, instance: string): InProcessRegion {
    const index = new RegionIndex(store);
    const registry = new Registry({ region: id, store, now: () => this.nowMs });
    const node = new MeshNode({
      self: this.topology.region(id)!,
      topology: this.topology,
      key,
      store,
      index,
      verify: this.#verify,
      instance,
      now: () => this.nowMs,
      fetch: (input, init) => this.#route(id, input, init),
      heartbeatMs: this.#heartbeatMs,
      random: () => this.#random(),
      // The clock is simulated: a request slowed down by a busy test machine must not count as
      // a lost heartbeat.
      peerTimeoutMs: 60_000,
      leaseTtlMs: this.#leaseTtlMs,
      admission: this.#admission,
      forwardEagerly: this.#forwardEagerly,
      onStored: (deltas, source) => registry.onStored(deltas, source),
      sleep: this.#clocked ? (ms, signal) => this.#sleep(ms, signal) : undefined,
    });
    const jobs = this.#requestJobs ? new TickScheduler({ now: () => this.nowMs }) : undefined;
    if (jobs !== undefined) scheduleMeshJobs(jobs, node);
    const app = meshRegionApp({
      region: id,
      store,
      verify: this.#verify,
      now: () => this.nowMs,
      mesh: { node, index },
      registry,
      admission: this.#admission,
      // Blob pulls go through the simulated network too.
      peerFetch: (input, init) => this.#route(id, input, init),
      jobs,
      jobsToken: jobs === undefined ? undefined : JOBS_TOKEN,
    });
    const region = { id, app, node, store, key, registry, jobs };
    this.regions.set(id, region);
    return region;
  }

  region(id: string): InProcessRegion {
    return this.regions.get(id)!;
  }

  async #route(from: string, input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const to = url.hostname.split(".")[0];
    const refused = () => new TypeError(`connection refused: ${from} → ${to}`);
    if (this.cut.has(`${from}>${to}`) || !this.regions.has(to)) throw refused();
    if (this.hung.has(`${from}>${to}`)) return await this.#hang(from, to, init?.signal);
    const fate = this.#delivery(from, to, url.pathname);
    if (fate === "drop") throw refused();
    const app = this.regions.get(to)!.app;
    init = this.#intercept(from, to, url.pathname, init ?? {});
    const response = await app.request(url.pathname + url.search, init);
    if (fate === "lose-reply") {
      await response.body?.cancel();
      throw new TypeError(`connection reset: ${from} → ${to}`);
    }
    if (fate === "duplicate") {
      await (await app.request(url.pathname + url.search, init)).body?.cancel();
    }
    return response;
  }

  /** A request over a hung link: fails at the sender's timeout (see `hung`), never answers. */
  #hang(from: string, to: string, signal?: AbortSignal | null): Promise<never> {
    return new Promise((_, reject) => {
      const dueMs = this.#clocked ? this.nowMs + PEER_REQUEST_TIMEOUT_MS : null;
      const waiter: Waiter = {
        hung: true,
        dueMs,
        end: () => {
          this.#waiters.delete(waiter);
          reject(new DOMException(`no answer: ${from} → ${to} (hung)`, "TimeoutError"));
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener("abort", () => waiter.end(), { once: true });
    });
  }

  /** A wait of `ms` on the simulated clock (see `clockedWaits`), or until `signal` aborts. */
  #sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const waiter: Waiter = {
        hung: false,
        dueMs: this.nowMs + ms,
        end: () => (this.#waiters.delete(waiter), resolve()),
      };
      this.#waiters.add(waiter);
      signal.addEventListener("abort", () => waiter.end(), { once: true });
    });
  }

  /** Moves the clock by `ms` and ends the waits (and hung requests) it made due. */
  advance(ms: number): void {
    this.nowMs += ms;
    for (const waiter of [...this.#waiters]) {
      if (waiter.dueMs !== null && waiter.dueMs <= this.nowMs) waiter.end();
    }
  }

  /** Requests hanging on hung links now. */
  get hanging(): number {
    return [...this.#waiters].filter((w) => w.hung).length;
  }

  /** Fails every request still hanging on a hung link (call before a test ends). */
  releaseHung(): void {
    for (const waiter of [...this.#waiters]) waiter.end();
  }

  /** Runs one tick of every job on every region, then advances the clock by `stepMs`. */
  async tick(stepMs = 250): Promise<void> {
    const nodes = [...this.regions.values()].map((r) => r.node);
    for (const node of nodes) await node.leaseTick();
    for (const node of nodes) await node.heartbeatTick();
    for (const node of nodes) await node.fanOutTick();
    // Eager forwards run beside the ticks; a step ends when they have.
    for (const node of nodes) await node.forwardsSettled();
    this.advance(stepMs);
  }

  /**
   * The platform's scheduled trigger, where requests drive the jobs (`requestJobs`): one round of
   * every region's due jobs, then waits for what pushes started. Does not move the clock.
   */
  async cronTick(): Promise<void> {
    for (const r of this.regions.values()) await r.jobs!.tick();
    await this.settle();
  }

  /**
   * Waits for the rounds pushes started, the eager forwards under way and the drains kicked
   * (they start on a timer: the event loop is given a few turns).
   */
  async settle(): Promise<void> {
    for (let turn = 0; turn < 3; turn++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      for (const r of this.regions.values()) {
        await r.jobs?.idle();
        await r.node.forwardsSettled();
      }
    }
  }

  /** Cuts `alone` off from every other region, both ways (null: heals every cut). */
  isolate(alone: string | null): void {
    this.cut.clear();
    if (alone === null) return;
    for (const other of this.regions.keys()) {
      if (other !== alone) this.cut.add(`${alone}>${other}`).add(`${other}>${alone}`);
    }
  }

  async antiEntropy(): Promise<void> {
    for (const r of this.regions.values()) await r.node.antiEntropyTick();
  }

  /** `POST /v1/deltas` to a region. */
  async push(id: string, deltas: unknown[]) {
    const response = await this.region(id).app.request("/v1/deltas", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ deltas }),
    });
    return (await response.json()).results as { status: string }[];
  }

  /**
   * The view of `channel` in region `id`: `GET /v1/channels/{channel}`, or for `_registry`, which
   * has no view over HTTP, the same fold read from the region's store.
   */
  async view(id: string, channel: string): Promise<string> {
    if (channel === REGISTRY_CHANNEL) {
      return (await new ChannelViews(this.region(id).store).read(channel)).state.viewText();
    }
    return await (await this.region(id).app.request(`/v1/channels/${channel}`)).text();
  }
}

/**
 * A peer client that sends as region `from` (with its key, on the mesh's clock) straight to the
 * app of `to`'s current instance, bypassing the mesh's links; `sent` records each request.
 */
export function directClient(mesh: InProcessMesh, from: string, to: string) {
  const sent: { body: string; headers: Headers }[] = [];
  const client = new PeerClient({
    self: from,
    key: mesh.region(from).key,
    now: () => mesh.nowMs,
    fetch: async (input, init) => {
      sent.push({ body: String(init!.body), headers: new Headers(init!.headers) });
      return await mesh.region(to).app.request(new URL(String(input)).pathname, init);
    },
  });
  return { client, sent };
}
