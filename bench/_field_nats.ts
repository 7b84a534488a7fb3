/**
 * NATS for bench/field.ts, with Debian's `nats-server` and npm `nats` (the Node client, over TCP):
 *
 * - a supercluster of three clusters A, B, C (one server each) joined by gateways; with a delay,
 *   every gateway connection goes through a TCP delay proxy (the URLs each server is given for
 *   the others are its own outbound proxies, as our regions' peer URLs are their link proxies);
 *   a message published by a client of A is timed to a subscriber that is a client of B;
 * - JetStream: one server with file storage, a stream of one subject, publishes that wait for
 *   the stream's ack, one at a time or with a window of acks outstanding.
 */
import { connect, type NatsConnection, StorageType } from "nats";
import { TcpDelayProxy } from "../test/support/delay_proxy.ts";
import { Daemon, listening } from "./_field_process.ts";
import { Arrivals, indexOf, type Latency, measure, payload, serverPorts } from "./_field_stats.ts";

export const NATS_SERVER = "nats-server";
const CLUSTERS = ["A", "B", "C"] as const;
const SUBJECT = "field.propagation";

export interface Supercluster {
  readonly clientPorts: Record<string, number>;
  stop(): Promise<void>;
}

/** Starts three single-server clusters joined by gateways, each link delayed by `delayMs`. */
export async function startSupercluster(dir: string, delayMs: number): Promise<Supercluster> {
  const ports = await serverPorts(2 * CLUSTERS.length);
  const clientPorts = Object.fromEntries(CLUSTERS.map((c, k) => [c, ports[2 * k]]));
  const gatewayPorts = Object.fromEntries(CLUSTERS.map((c, k) => [c, ports[2 * k + 1]]));
  const proxies: TcpDelayProxy[] = [];
  const daemons: Daemon[] = [];
  for (const name of CLUSTERS) {
    const remotes = CLUSTERS.filter((c) => c !== name).map((other) => {
      let port = gatewayPorts[other];
      if (delayMs > 0) {
        const proxy = new TcpDelayProxy(port, delayMs);
        proxies.push(proxy);
        port = proxy.port;
      }
      return `    { name: "${other}", urls: ["nats://127.0.0.1:${port}"] }`;
    });
    const config = `server_name: "${name}"
listen: "127.0.0.1:${clientPorts[name]}"
gateway {
  name: "${name}"
  listen: "127.0.0.1:${gatewayPorts[name]}"
  gateways: [
${remotes.join("\n")}
  ]
}
`;
    const file = `${dir}/nats-${name}.conf`;
    await Deno.writeTextFile(file, config);
    daemons.push(new Daemon(`nats-${name}`, NATS_SERVER, ["-c", file]));
  }
  const stop = async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    for (const proxy of proxies) proxy.stop();
  };
  try {
    await Promise.all(CLUSTERS.map((c) => listening(clientPorts[c])));
  } catch (error) {
    await stop();
    throw new Error(`nats-server did not start: ${error}\n${daemons.map((d) => d.output())}`);
  }
  return { clientPorts, stop };
}

/** A message published on A, timed to a subscriber on B. */
export async function natsPropagation(
  dir: string,
  delayMs: number,
  samples: number,
  warmup: number,
): Promise<Latency> {
  const cluster = await startSupercluster(dir, delayMs);
  const connections: NatsConnection[] = [];
  try {
    const [a, b] = await Promise.all(["A", "B"].map(async (c) => {
      const nc = await connect({ servers: `127.0.0.1:${cluster.clientPorts[c]}`, noEcho: true });
      connections.push(nc);
      return nc;
    }));
    const arrivals = new Arrivals();
    b.subscribe(SUBJECT, { callback: (_error, message) => arrivals.arrive(indexOf(message.data)) });
    await b.flush();
    // Until the gateways are up and B's interest has reached A, publish probes (index 2^31 up).
    let probe = 2 ** 31;
    for (const deadline = performance.now() + 30_000; performance.now() < deadline;) {
      const i = probe++;
      a.publish(SUBJECT, payload(i));
      if (await arrivals.expect(i, 200) !== null) break;
    }
    return await measure(samples, warmup, async (i) => {
      const started = performance.now();
      a.publish(SUBJECT, payload(i));
      const at = await arrivals.expect(i);
      return at === null ? null : at - started;
    });
  } finally {
    await Promise.all(connections.map((nc) => nc.close()));
    await cluster.stop();
  }
}

export interface DurableWrites {
  /** Acknowledged publishes per second. */
  readonly perSecond: number;
  readonly messages: number;
  /** Most publishes awaiting their ack at once. */
  readonly window: number;
}

/**
 * JetStream, file storage: `messages` publishes of PAYLOAD_BYTES to one stream, each counted when
 * the server's ack (stored) arrives, with at most `window` awaiting their ack.
 */
export async function jetStreamWrites(
  dir: string,
  runs: { messages: number; window: number }[],
): Promise<DurableWrites[]> {
  const [port] = await serverPorts(1);
  const server = new Daemon("nats-js", NATS_SERVER, [
    "-a",
    "127.0.0.1",
    "-p",
    String(port),
    "-js",
    "-sd",
    `${dir}/jetstream`,
    "--server_name",
    "js",
  ]);
  let nc: NatsConnection | null = null;
  try {
    await listening(port);
    nc = await connect({ servers: `127.0.0.1:${port}` });
    const manager = await nc.jetstreamManager();
    const results: DurableWrites[] = [];
    for (const [r, run] of runs.entries()) {
      const stream = `FIELD${r}`;
      await manager.streams.add({
        name: stream,
        subjects: [`${stream}.x`],
        storage: StorageType.File,
      });
      const js = nc.jetstream();
      // Warm up: the stream's files and the connection.
      for (let i = 0; i < 200; i++) await js.publish(`${stream}.x`, payload(i));
      const started = performance.now();
      let next = 0, acked = 0;
      await Promise.all(Array.from({ length: run.window }, async () => {
        while (next < run.messages) {
          const ack = await js.publish(`${stream}.x`, payload(next++));
          if (ack.stream === stream) acked++;
        }
      }));
      const seconds = (performance.now() - started) / 1000;
      const info = await manager.streams.info(stream);
      if (info.state.messages !== run.messages + 200) {
        throw new Error(
          `JetStream holds ${info.state.messages} messages, expected ${run.messages + 200}`,
        );
      }
      results.push({ perSecond: Math.round(acked / seconds), ...run });
    }
    return results;
  } finally {
    await nc?.close();
    await server.stop();
  }
}
