/**
 * Delay proxies: the peers' counterpart in bench/field.ts of our chaos proxy's `delayMs`, for
 * protocols that are not HTTP, and TestMesh's `delayLinks` (a link that delays bytes, not
 * requests). Each listens on 127.0.0.1 and forwards to one target port, holding
 * every chunk (TCP) or datagram (UDP) for `delayMs` from its arrival, in both directions, in
 * arrival order (a constant one-way latency, as netem's `delay`). Delays are timers in this
 * process, so the bench's own event loop lag shows in them as it does in the chaos proxy's.
 */
import dgram from "node:dgram";

/** Longest delay a proxy may hold data for, in ms. */
export const DELAY_MS_MAX = 10_000;
/** Most bytes a TCP direction may hold in flight before it stops reading. */
export const DELAY_BUFFERED_BYTES_MAX = 16 * 1024 * 1024;
/** Most datagrams a UDP proxy holds at once; more are dropped (as a full queue would). */
export const DELAY_DATAGRAMS_MAX = 65_536;

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** Runs `send` `delayMs` after now, keeping order with earlier calls. */
class DelayLine {
  #queue: { at: number; run: () => Promise<void> | void }[] = [];
  #running = false;
  #closed = false;
  bytes = 0;

  constructor(private readonly delayMs: () => number) {}

  push(run: () => Promise<void> | void): void {
    if (this.#closed) return;
    this.#queue.push({ at: performance.now() + this.delayMs(), run });
    if (!this.#running) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#running = true;
    while (this.#queue.length > 0 && !this.#closed) {
      const next = this.#queue[0];
      const wait = next.at - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.#queue.shift();
      try {
        await next.run();
      } catch {
        this.close();
      }
    }
    this.#running = false;
  }

  close(): void {
    this.#closed = true;
    this.#queue = [];
  }
}

/** A TCP proxy adding `delayMs` one way, in each direction, to everything it relays. */
export class TcpDelayProxy {
  readonly port: number;
  delayMs: number;
  readonly #listener: Deno.TcpListener;
  readonly #conns = new Set<Deno.TcpConn>();
  readonly #lines = new Set<DelayLine>();

  constructor(targetPort: number, delayMs = 0, port = 0) {
    if (delayMs < 0 || delayMs > DELAY_MS_MAX) throw new RangeError(`delay ${delayMs} ms`);
    this.delayMs = delayMs;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    void this.#accept(targetPort);
  }

  async #accept(targetPort: number): Promise<void> {
    for await (const inbound of this.#listener) {
      Deno.connect({ hostname: "127.0.0.1", port: targetPort }).then((outbound) => {
        for (const conn of [inbound, outbound]) {
          conn.setNoDelay(true);
          this.#conns.add(conn);
        }
        const close = () => {
          for (const conn of [inbound, outbound]) {
            if (this.#conns.delete(conn)) closeQuietly(conn);
          }
        };
        void this.#relay(inbound, outbound, close);
        void this.#relay(outbound, inbound, close);
      }, () => inbound.close());
    }
  }

  async #relay(from: Deno.TcpConn, to: Deno.TcpConn, close: () => void): Promise<void> {
    const line = new DelayLine(() => this.delayMs);
    this.#lines.add(line);
    try {
      for await (const chunk of from.readable) {
        line.bytes += chunk.length;
        line.push(async () => {
          const writer = to.writable.getWriter();
          try {
            await writer.write(chunk);
          } finally {
            writer.releaseLock();
            line.bytes -= chunk.length;
          }
        });
        while (line.bytes > DELAY_BUFFERED_BYTES_MAX) await new Promise((r) => setTimeout(r, 5));
      }
    } catch { /* closed */ }
    // Let what is in flight arrive before closing (a FIN travels with the same delay).
    line.push(close);
    this.#lines.delete(line);
  }

  stop(): void {
    this.#listener.close();
    for (const line of this.#lines) line.close();
    for (const conn of this.#conns) closeQuietly(conn);
    this.#conns.clear();
  }
}

/**
 * A UDP proxy adding `delayMs` to every datagram, both ways: a datagram from a source S to the
 * proxy goes to the target from a socket of S's own; the target's answers to that socket go back
 * to S from the proxy's address (as a NAT would).
 */
export class UdpDelayProxy {
  readonly port: number;
  delayMs: number;
  readonly #front: dgram.Socket;
  readonly #backs = new Map<string, dgram.Socket>();
  readonly #line: DelayLine;
  #held = 0;

  private constructor(front: dgram.Socket, port: number, delayMs: number, targetPort: number) {
    this.#front = front;
    this.port = port;
    this.delayMs = delayMs;
    this.#line = new DelayLine(() => this.delayMs);
    front.on("message", (message, from) => {
      const key = `${from.address}:${from.port}`;
      let back = this.#backs.get(key);
      if (back === undefined) {
        back = dgram.createSocket("udp4");
        back.bind(0, "127.0.0.1");
        back.on(
          "message",
          (answer) => this.#later(() => front.send(answer, from.port, from.address)),
        );
        this.#backs.set(key, back);
      }
      const socket = back;
      this.#later(() => socket.send(message, targetPort, "127.0.0.1"));
    });
  }

  /** Binds a UDP proxy on `port` (0: any) in front of `targetPort`. */
  static async start(targetPort: number, delayMs = 0, port = 0): Promise<UdpDelayProxy> {
    const front = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => front.bind(port, "127.0.0.1", resolve));
    return new UdpDelayProxy(front, front.address().port, delayMs, targetPort);
  }

  #later(send: () => void): void {
    if (this.#held >= DELAY_DATAGRAMS_MAX) return;
    this.#held++;
    this.#line.push(() => {
      this.#held--;
      send();
    });
  }

  stop(): void {
    this.#line.close();
    this.#front.close();
    for (const socket of this.#backs.values()) socket.close();
  }
}
