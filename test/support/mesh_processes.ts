/**
 * A mesh of real region processes for integration tests: each region is `main.ts` in its own
 * process with its own store, and every directed link between two regions goes through its own
 * chaos proxy (each region gets a topology file whose peer URLs are its outgoing link proxies), so
 * a test can delay, drop, duplicate, reorder or cut exactly the links it wants.
 */
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { ChaosProxy, type ChaosSettings, startChaosProxy } from "./chaos_proxy.ts";
import { TcpDelayProxy } from "./delay_proxy.ts";
import { freePort, type RegionProcess, startRegionProcess } from "./region_process.ts";

export interface MeshRegionSpec {
  readonly id: string;
  readonly zone: string;
}

export interface MeshOptions {
  readonly regions: readonly MeshRegionSpec[];
  readonly heartbeatMs?: number;
  readonly leaseTtlMs?: number;
  readonly antiEntropyMs?: number;
  /** Seed of the link proxies' randomness (printed by tests so a run can be replayed). */
  readonly seed?: number;
  /**
   * Peers reach each other directly instead of through the link proxies (which stay unused):
   * for benchmarks that measure the mesh without the proxies' own hop. Default false.
   */
  readonly directLinks?: boolean;
  /**
   * Peers reach each other through TCP delay proxies (`delay_proxy.ts`) instead of the chaos
   * proxies: a link that holds bytes each way (`setLinkDelay`), with no HTTP server of its own
   * in the path, as the peers of bench/field.ts get. The chaos settings then do nothing.
   */
  readonly delayLinks?: boolean;
  /** More environment for every region's process (e.g. a store, OpenTelemetry export). */
  readonly env?: (region: string) => Record<string, string>;
}

export interface MeshRegion {
  readonly id: string;
  readonly zone: string;
  /** Where agents (and the test) talk to the region directly. */
  readonly url: string;
  /** The region's secret key (base64url), to forge or replay its messages in tests. */
  readonly secret: string;
  process: RegionProcess | null;
  /** Env of the region's process (to start more instances of it). */
  readonly env: Record<string, string>;
}

export class TestMesh {
  readonly regions: Map<string, MeshRegion>;
  /** Link proxies by `"<from>><to>"`. */
  readonly links: Map<string, ChaosProxy>;
  /** TCP delay links by `"<from>><to>"` (with `delayLinks`). */
  readonly delays: Map<string, TcpDelayProxy>;
  readonly dir: string;
  readonly seed: number;

  private constructor(
    dir: string,
    seed: number,
    regions: Map<string, MeshRegion>,
    links: Map<string, ChaosProxy>,
    delays: Map<string, TcpDelayProxy>,
  ) {
    this.dir = dir;
    this.seed = seed;
    this.regions = regions;
    this.links = links;
    this.delays = delays;
  }

  static async start(options: MeshOptions): Promise<TestMesh> {
    const dir = await Deno.makeTempDir({ prefix: "mesh-test-" });
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
    const keys = new Map(options.regions.map((r) => [r.id, AgentKey.generate()]));
    const ports = new Map(options.regions.map((r) => [r.id, freePort()]));
    const direct = (id: string) => `http://127.0.0.1:${ports.get(id)}`;
    const links = new Map<string, ChaosProxy>();
    const delays = new Map<string, TcpDelayProxy>();
    let linkSeed = seed;
    for (const from of options.regions) {
      for (const to of options.regions) {
        if (from.id === to.id) continue;
        links.set(
          `${from.id}>${to.id}`,
          startChaosProxy({ target: direct(to.id), seed: linkSeed++ }),
        );
        if (options.delayLinks) {
          delays.set(`${from.id}>${to.id}`, new TcpDelayProxy(ports.get(to.id)!));
        }
      }
    }
    const linkUrl = (from: string, to: string) => {
      if (from === to || options.directLinks) return direct(to);
      const delay = delays.get(`${from}>${to}`);
      return delay ? `http://127.0.0.1:${delay.port}` : links.get(`${from}>${to}`)!.url;
    };
    const regions = new Map<string, MeshRegion>();
    for (const region of options.regions) {
      const zones = [...new Set(options.regions.map((r) => r.zone))].map((zone) => ({
        id: zone,
        regions: options.regions.filter((r) => r.zone === zone).map((r) => ({
          id: r.id,
          url: linkUrl(region.id, r.id),
          publicKey: keys.get(r.id)!.id,
        })),
      }));
      const topology = `${dir}/${region.id}.topology.json`;
      await Deno.writeTextFile(topology, JSON.stringify({ v: 1, zones }));
      const secret = JSON.parse(keys.get(region.id)!.toFileText()).secretKey as string;
      const env = {
        MESH_REGION: region.id,
        PORT: String(ports.get(region.id)),
        MESH_DATA: `${dir}/${region.id}`,
        MESH_TOPOLOGY: topology,
        MESH_REGION_KEY: secret,
        MESH_HEARTBEAT_MS: String(options.heartbeatMs ?? 250),
        MESH_LEASE_TTL_MS: String(options.leaseTtlMs ?? 3_000),
        MESH_ANTI_ENTROPY_MS: String(options.antiEntropyMs ?? 1_000),
        ...options.env?.(region.id),
      };
      regions.set(region.id, { ...region, url: direct(region.id), secret, process: null, env });
    }
    const mesh = new TestMesh(dir, seed, regions, links, delays);
    try {
      await Promise.all([...regions.keys()].map((id) => mesh.startRegion(id)));
    } catch (error) {
      await mesh.stop();
      throw error;
    }
    return mesh;
  }

  region(id: string): MeshRegion {
    const region = this.regions.get(id);
    if (region === undefined) throw new Error(`no region ${id} in this mesh`);
    return region;
  }

  async startRegion(id: string): Promise<void> {
    const region = this.region(id);
    region.process = await startRegionProcess(region.env);
  }

  /** Stops a region's process (SIGKILL when `kill`, else SIGTERM). */
  async stopRegion(id: string, kill = false): Promise<void> {
    const region = this.region(id);
    await region.process?.stop(kill ? "SIGKILL" : "SIGTERM");
    region.process = null;
  }

  /** Applies chaos settings to every link (or to the links `which` selects). */
  setLinks(
    settings: ChaosSettings,
    which: (from: string, to: string) => boolean = () => true,
  ): void {
    for (const [name, proxy] of this.links) {
      const [from, to] = name.split(">");
      if (which(from, to)) proxy.set(settings);
    }
  }

  /** Sets every TCP delay link's one-way delay, each way (with `delayLinks`). */
  setLinkDelay(delayMs: number): void {
    if (this.delays.size === 0) throw new Error("this mesh was started without delayLinks");
    for (const delay of this.delays.values()) delay.delayMs = delayMs;
  }

  /** Cuts every link between different groups; links inside a group are healed. */
  partition(groups: readonly (readonly string[])[]): void {
    const groupOf = new Map(groups.flatMap((g, i) => g.map((id) => [id, i])));
    this.setLinks({ cut: true }, (from, to) => groupOf.get(from) !== groupOf.get(to));
    this.setLinks({}, (from, to) => groupOf.get(from) === groupOf.get(to));
  }

  heal(): void {
    this.setLinks({});
  }

  /** `GET /v1/status` of a region. */
  async status(id: string): Promise<MeshStatus> {
    const response = await fetch(`${this.region(id).url}/v1/status`);
    if (!response.ok) {
      throw new Error(`status of ${id} answered ${response.status}: ${await response.text()}`);
    }
    return await response.json();
  }

  /** `GET /v1/status` of every region, in the mesh's order. */
  statuses(): Promise<MeshStatus[]> {
    return Promise.all([...this.regions.keys()].map((id) => this.status(id)));
  }

  /** Polls until every region's status satisfies `check`; returns the elapsed ms. */
  untilEvery(
    what: string,
    check: (status: MeshStatus) => boolean,
    timeoutMs: number,
  ): Promise<number> {
    return this.until(what, async () => (await this.statuses()).every(check), timeoutMs);
  }

  /** Polls `check` every 50 ms until it returns true; returns the elapsed ms; throws at `timeoutMs`. */
  async until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
    const started = performance.now();
    let last: unknown = null;
    while (performance.now() - started < timeoutMs) {
      try {
        if (await check()) return performance.now() - started;
      } catch (error) {
        last = error;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `${what}: not true after ${timeoutMs} ms (mesh seed ${this.seed})${
        last ? `; last error: ${last}` : ""
      }`,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.regions.keys()].map((id) => this.stopRegion(id).catch(() => undefined)),
    );
    await Promise.all([...this.links.values()].map((p) => p.stop()));
    for (const delay of this.delays.values()) delay.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => undefined);
  }
}

/** The parts of `GET /v1/status` the tests read. */
export interface MeshStatus {
  region: string;
  instance: string;
  leader: { holder: string; epoch: number; expiresAtMs: number; self: boolean } | null;
  partition: "majority" | "minority";
  reachable: string[];
  fingerprint: string;
  deltas: number;
  logHead: number;
  peers: { id: string; phi: number | null; reachable: boolean; outboxDepth: number | null }[];
}
