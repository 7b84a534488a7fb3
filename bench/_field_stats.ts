/**
 * What every system in bench/field.ts is measured with: the same payload, the same sampling loop
 * (one message at a time, a random pause between samples, warm-up samples not counted) and the
 * same quantiles.
 */
import dgram from "node:dgram";

/** Bytes of application payload in every message, whatever the system. */
export const PAYLOAD_BYTES = 256;
/** Longest a sample may take to arrive before it counts as lost, in ms. */
export const SAMPLE_TIMEOUT_MS = 5_000;
/** Pause between samples, in ms, plus up to SAMPLE_JITTER_MS at random. */
export const SAMPLE_GAP_MS = 10;
/**
 * Random part of the pause, in ms: longer than the longest periodic tick of any system measured
 * (Serf's 200 ms gossip interval), so a sample starts at a random phase of every tick. With a
 * short pause, a sample sent just after the previous one arrived (itself just after a tick)
 * waits a whole period every time (Serf: 185 ms p50 instead of ~100).
 */
export const SAMPLE_JITTER_MS = 250;

export interface Latency {
  /** Samples that arrived. */
  readonly n: number;
  /** Samples that did not arrive within SAMPLE_TIMEOUT_MS. */
  readonly lost: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** Quantiles (nearest rank below) of `xs` in ms, two decimals. */
export function quantiles(xs: readonly number[], lost = 0): Latency {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) =>
    s.length === 0 ? NaN : +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(2);
  return { n: s.length, lost, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) };
}

/** `PAYLOAD_BYTES` bytes whose first four hold `i` (big-endian), the rest a fixed pattern. */
export function payload(i: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(PAYLOAD_BYTES).map((_, k) => 97 + (k % 26));
  new DataView(bytes.buffer).setUint32(0, i);
  return bytes;
}

/** The sample index a payload carries. */
export function indexOf(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
}

/** `PAYLOAD_BYTES` characters of text starting with `i` in decimal (for JSON payloads). */
export function textPayload(i: number): string {
  const head = `${i}:`;
  return head + "x".repeat(PAYLOAD_BYTES - head.length);
}

/** Arrival times by sample index: `arrive(i)` resolves whoever `expect(i)`s it. */
export class Arrivals {
  readonly #waiting = new Map<number, (at: number) => void>();
  readonly #early = new Map<number, number>();

  /** Records that sample `i` arrived now (or at `at`, a `performance.now()` time). */
  arrive(i: number, at = performance.now()): void {
    const resolve = this.#waiting.get(i);
    if (resolve === undefined) {
      if (!this.#early.has(i)) this.#early.set(i, at);
      return;
    }
    this.#waiting.delete(i);
    resolve(at);
  }

  /** The arrival time of sample `i`, or null after `timeoutMs`. */
  expect(i: number, timeoutMs = SAMPLE_TIMEOUT_MS): Promise<number | null> {
    const early = this.#early.get(i);
    if (early !== undefined) {
      this.#early.delete(i);
      return Promise.resolve(early);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(i);
        resolve(null);
      }, timeoutMs);
      this.#waiting.set(i, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }
}

/**
 * Runs `warmup + samples` probes one after another; `probe(i)` sends sample i and resolves its
 * latency in ms, or null when it was lost. Warm-up samples are not counted.
 */
export async function measure(
  samples: number,
  warmup: number,
  probe: (i: number) => Promise<number | null>,
): Promise<Latency> {
  const times: number[] = [];
  let lost = 0;
  for (let i = 0; i < warmup + samples; i++) {
    const ms = await probe(i);
    if (i >= warmup) ms === null ? lost++ : times.push(ms);
    await new Promise((r) => setTimeout(r, SAMPLE_GAP_MS + Math.random() * SAMPLE_JITTER_MS));
  }
  return quantiles(times, lost);
}

/** Polls `check` every `pollMs` until true; throws naming `what` after `timeoutMs`. */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  pollMs = 50,
): Promise<number> {
  const started = performance.now();
  let last: unknown = null;
  while (performance.now() - started < timeoutMs) {
    try {
      if (await check()) return performance.now() - started;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`${what}: not true after ${timeoutMs} ms${last ? `; last error: ${last}` : ""}`);
}

/** Ports servers are given are drawn from here: below Linux's ephemeral range (32768 up). */
export const SERVER_PORT_MIN = 20_000;
export const SERVER_PORT_MAX = 32_000;

/**
 * `count` distinct ports free on 127.0.0.1 for TCP (and UDP when `udp`), drawn below the
 * ephemeral range, so that no client connection or proxy socket (which get ephemeral ports) can
 * take one between now and the moment its server binds it. Each is held until all are chosen.
 */
export async function serverPorts(count: number, udp = false): Promise<number[]> {
  const held: { close(): void }[] = [];
  const ports: number[] = [];
  try {
    for (let attempt = 0; ports.length < count; attempt++) {
      if (attempt > 100 * count) throw new Error(`Cannot find ${count} free ports`);
      const port = SERVER_PORT_MIN +
        Math.floor(Math.random() * (SERVER_PORT_MAX - SERVER_PORT_MIN));
      if (ports.includes(port)) continue;
      try {
        held.push(Deno.listen({ hostname: "127.0.0.1", port }));
      } catch {
        continue;
      }
      if (udp) {
        const socket = dgram.createSocket("udp4");
        const bound = await new Promise<boolean>((resolve) => {
          socket.once("error", () => resolve(false));
          socket.bind(port, "127.0.0.1", () => resolve(true));
        });
        if (!bound) continue;
        held.push({ close: () => socket.close() });
      }
      ports.push(port);
    }
    return ports;
  } finally {
    for (const h of held) h.close();
    // node:dgram closes asynchronously: let the sockets go before a server binds their ports.
    if (udp) await new Promise((r) => setTimeout(r, 50));
  }
}
