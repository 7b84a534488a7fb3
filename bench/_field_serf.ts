/**
 * HashiCorp Serf for bench/field.ts, with Debian's `serf`: N agents on 127.0.0.1 (default `lan`
 * timing profile), all joined through the first; a user event fired on agent 0 through its RPC
 * interface is timed to its arrival in the event stream of agent 1 (and of every agent).
 *
 * With a delay, every agent advertises a proxy in front of its gossip port (UDP and TCP, each
 * datagram and chunk held `delayMs`), so every packet from one agent to another takes the delay
 * once: memberlist learns members' addresses from gossip, so per-link proxies as the other
 * systems have are not possible; one inbound proxy per agent delays the same links.
 *
 * The RPC protocol (Serf's `client` package): msgpack maps, a request header
 * `{Command, Seq}` followed by a body when the command has one; a response header `{Seq, Error}`
 * followed by a body when the command returns one. `stream` answers with a header alone, then
 * a header and a record per event.
 */
import { decodeMultiStream, encode } from "@msgpack/msgpack";
import { TcpDelayProxy, UdpDelayProxy } from "../test/support/delay_proxy.ts";
import { Daemon, listening } from "./_field_process.ts";
import {
  Arrivals,
  indexOf,
  type Latency,
  measure,
  payload,
  quantiles,
  serverPorts,
  until,
} from "./_field_stats.ts";

export const SERF = "serf";
const EVENT = "field";
/** How long the agents may take to all see each other, in ms. */
const MEMBERSHIP_MS_MAX = 60_000;

interface Header {
  Seq: number;
  Error: string;
}
interface Pending {
  readonly body: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

/** A connection to one agent's RPC address. */
export class SerfRpc {
  readonly #conn: Deno.TcpConn;
  #seq = 0;
  readonly #pending = new Map<number, Pending>();
  readonly #streams = new Map<number, (record: Record<string, unknown>) => void>();
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    void this.#read();
  }

  static async open(port: number): Promise<SerfRpc> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const rpc = new SerfRpc(conn);
    await rpc.#request("handshake", { Version: 1 });
    return rpc;
  }

  async #read(): Promise<void> {
    let bodyFor: ((body: unknown) => void) | null = null;
    try {
      for await (const item of decodeMultiStream(this.#conn.readable)) {
        if (bodyFor !== null) {
          const deliver = bodyFor;
          bodyFor = null;
          deliver(item);
          continue;
        }
        const header = item as Header;
        const stream = this.#streams.get(header.Seq);
        const pending = this.#pending.get(header.Seq);
        if (pending !== undefined) {
          this.#pending.delete(header.Seq);
          if (header.Error) pending.reject(new Error(`serf rpc: ${header.Error}`));
          else if (pending.body) bodyFor = pending.resolve;
          else pending.resolve(header);
        } else if (stream !== undefined) {
          bodyFor = (record) => stream(record as Record<string, unknown>);
        }
      }
    } catch { /* closed */ }
    if (this.#closed) return;
    for (const pending of this.#pending.values()) pending.reject(new Error("serf rpc closed"));
  }

  #request(command: string, body?: unknown, answerHasBody = false): Promise<unknown> {
    const seq = this.#seq++;
    const answer = new Promise((resolve, reject) => {
      this.#pending.set(seq, { body: answerHasBody, resolve, reject });
    });
    const parts = [encode({ Command: command, Seq: seq })];
    if (body !== undefined) parts.push(encode(body));
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
    void this.#write(bytes);
    return answer;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    const writer = this.#conn.writable.getWriter();
    try {
      await writer.write(bytes);
    } finally {
      writer.releaseLock();
    }
  }

  /** Fires a user event (not coalesced); resolves on the agent's answer. */
  event(name: string, data: Uint8Array): Promise<unknown> {
    return this.#request("event", { Name: name, Payload: data, Coalesce: false });
  }

  /** Names of the members this agent sees alive. */
  async alive(): Promise<string[]> {
    const body = await this.#request("members", undefined, true) as {
      Members: { Name: string; Status: string }[];
    };
    return body.Members.filter((m) => m.Status === "alive").map((m) => m.Name);
  }

  /** Streams user events named `name`: `onEvent(payload)` per event. */
  async stream(name: string, onEvent: (data: Uint8Array) => void): Promise<void> {
    const seq = this.#seq;
    this.#streams.set(seq, (record) => {
      const data = record.Payload;
      onEvent(data instanceof Uint8Array ? data : new TextEncoder().encode(String(data)));
    });
    await this.#request("stream", { Type: `user:${name}` });
  }

  close(): void {
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}

interface Agents {
  readonly rpcPorts: number[];
  /** The first agent's output (for errors). */
  output(): string;
  stop(): Promise<void>;
}

async function startAgents(count: number, delayMs: number): Promise<Agents> {
  const daemons: Daemon[] = [];
  const proxies: { stop(): void }[] = [];
  const ports = await serverPorts(2 * count, true);
  const [binds, rpcPorts] = [ports.slice(0, count), ports.slice(count)];
  const advertised: number[] = [];
  for (const bind of binds) {
    if (delayMs > 0) {
      const udp = await UdpDelayProxy.start(bind, delayMs);
      proxies.push(udp, new TcpDelayProxy(bind, delayMs, udp.port));
      advertised.push(udp.port);
    } else advertised.push(bind);
  }
  for (let n = 0; n < count; n++) {
    const args = [
      "agent",
      `-node=agent-${n}`,
      `-bind=127.0.0.1:${binds[n]}`,
      `-advertise=127.0.0.1:${advertised[n]}`,
      `-rpc-addr=127.0.0.1:${rpcPorts[n]}`,
      "-log-level=err",
    ];
    if (n > 0) args.push(`-retry-join=127.0.0.1:${advertised[0]}`, "-retry-interval=1s");
    daemons.push(new Daemon(`serf-${n}`, SERF, args));
  }
  const stop = async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    for (const proxy of proxies) proxy.stop();
  };
  try {
    await Promise.all(rpcPorts.map((port) => listening(port)));
  } catch (error) {
    await stop();
    throw new Error(`serf agents did not start: ${error}\n${daemons[0].output()}`);
  }
  return {
    rpcPorts,
    output: () => daemons.map((d) => `${d.name}: ${d.output()}`).join("\n"),
    stop,
  };
}

export interface SerfPropagation {
  /** Fired on agent 0 → in agent 1's event stream. */
  readonly toOne: Latency;
  /** Fired on agent 0 → in the event streams of all other agents (the last of them). */
  readonly toAll: Latency;
}

/** `count` agents; user events fired on agent 0, timed to agent 1 and to all. */
export async function serfPropagation(
  count: number,
  delayMs: number,
  samples: number,
  warmup: number,
): Promise<SerfPropagation> {
  const agents = await startAgents(count, delayMs);
  const rpcs: SerfRpc[] = [];
  try {
    for (const port of agents.rpcPorts) rpcs.push(await SerfRpc.open(port));
    await until(
      `${count} serf agents see each other`,
      async () => (await Promise.all(rpcs.map((r) => r.alive()))).every((a) => a.length === count),
      MEMBERSHIP_MS_MAX,
      500,
    );
    const toOne = new Arrivals(), toAll = new Arrivals();
    const seen = new Map<number, number>();
    for (const [n, rpc] of rpcs.entries()) {
      if (n === 0) continue;
      await rpc.stream(EVENT, (data) => {
        const i = indexOf(data);
        if (n === 1) toOne.arrive(i);
        const got = (seen.get(i) ?? 0) + 1;
        seen.set(i, got);
        if (got === count - 1) (toAll.arrive(i), seen.delete(i));
      });
    }
    const all: number[] = [];
    let allLost = 0;
    const one = await measure(samples, warmup, async (i) => {
      const started = performance.now();
      rpcs[0].event(EVENT, payload(i)).catch((error) => {
        throw new Error(`serf event: ${error}\n${agents.output()}`);
      });
      const [first, last] = await Promise.all([toOne.expect(i), toAll.expect(i)]);
      if (i >= warmup) last === null ? allLost++ : all.push(last - started);
      return first === null ? null : first - started;
    });
    return { toOne: one, toAll: quantiles(all, allLost) };
  } finally {
    for (const rpc of rpcs) rpc.close();
    await agents.stop();
  }
}
