/**
 * js-libp2p gossipsub for bench/field.ts: three peers, each its own process
 * (bench/_field_libp2p_node.ts), connected in a full mesh over TCP on 127.0.0.1 (peer 0 dials
 * 1 and 2, peer 1 dials 2); with a delay, every dial goes to a TCP delay proxy in front of the
 * peer dialled, so both directions of every connection are delayed. All three subscribe to one
 * topic; a message published by peer 0 is timed from the bench's command to peer 0 until peer 1's
 * line saying it arrived (each way a pipe between processes on one machine, ~0.1 ms).
 */
import { TcpDelayProxy } from "../test/support/delay_proxy.ts";
import { Arrivals, type Latency, measure, PAYLOAD_BYTES, until } from "./_field_stats.ts";

const NODE = new URL("./_field_libp2p_node.ts", import.meta.url).pathname;
const TOPIC = "field";
/** Peers in the gossipsub network (one per region). */
export const LIBP2P_PEERS = 3;

type Line = Record<string, unknown>;

/** One peer process and its line protocol. */
class Peer {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #answers: ((line: Line) => void)[] = [];
  onGot: (i: number) => void = () => {};
  readonly ready: Promise<Line>;

  constructor() {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--cached-only", NODE],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.ready = this.#next();
    void this.#read();
  }

  async #read(): Promise<void> {
    let rest = "";
    for await (const text of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + text).split("\n");
      rest = parts.pop()!;
      for (const part of parts) {
        const line = JSON.parse(part) as Line;
        if (typeof line.got === "number") this.onGot(line.got);
        else this.#answers.shift()?.(line);
      }
    }
  }

  #next(): Promise<Line> {
    return new Promise((resolve) => this.#answers.push(resolve));
  }

  /** Sends a command; resolves with its answer line when it has one. */
  async ask(command: Line): Promise<Line> {
    const answer = this.#next();
    await this.send(command);
    return await answer;
  }

  send(command: Line): Promise<void> {
    return this.#writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
  }

  async stop(): Promise<void> {
    await this.send({ stop: true }).catch(() => undefined);
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5_000);
    await this.#child.status;
    clearTimeout(timer);
  }
}

/** A message published by peer 0, timed to its arrival at peer 1. */
export async function gossipsubPropagation(
  delayMs: number,
  samples: number,
  warmup: number,
): Promise<Latency> {
  const peers = Array.from({ length: LIBP2P_PEERS }, () => new Peer());
  const proxies: TcpDelayProxy[] = [];
  try {
    const ready = await Promise.all(peers.map((p) => p.ready));
    for (const peer of peers) await peer.ask({ subscribe: TOPIC });
    for (let from = 0; from < LIBP2P_PEERS; from++) {
      for (let to = from + 1; to < LIBP2P_PEERS; to++) {
        let addr = String(ready[to].addr);
        if (delayMs > 0) {
          const port = Number(/\/tcp\/(\d+)\//.exec(addr)![1]);
          const proxy = new TcpDelayProxy(port, delayMs);
          proxies.push(proxy);
          addr = addr.replace(`/tcp/${port}/`, `/tcp/${proxy.port}/`);
        }
        await peers[from].ask({ dial: addr });
      }
    }
    // Gossipsub grafts its mesh on its 1 s heartbeat once it knows the others subscribe.
    await until(
      "gossipsub meshes formed",
      async () => {
        const answers = await Promise.all(peers.map((p) => p.ask({ peers: TOPIC })));
        return answers.every((a) => a.mesh === LIBP2P_PEERS - 1);
      },
      30_000,
      250,
    );
    const arrivals = new Arrivals();
    peers[1].onGot = (i) => arrivals.arrive(i);
    return await measure(samples, warmup, async (i) => {
      const started = performance.now();
      await peers[0].send({ publish: TOPIC, i, bytes: PAYLOAD_BYTES });
      const at = await arrivals.expect(i);
      return at === null ? null : at - started;
    });
  } finally {
    await Promise.all(peers.map((p) => p.stop()));
    for (const proxy of proxies) proxy.stop();
  }
}
