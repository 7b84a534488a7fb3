/**
 * `GET /v1/status/stream` (docs/protocol.md §12.6.1): the status document as Server-Sent Events.
 * While anyone listens, one sampler per instance computes the document every
 * {@linkcode STATUS_SAMPLE_MS} and sends it to every stream when its health-relevant part changed
 * (`changeKey`) or {@linkcode STATUS_SNAPSHOT_MS} after the last snapshot — one document, serialised
 * once, however many listen. A stream that reads slowly holds at most one frame queued and one
 * waiting: a newer snapshot replaces the waiting one, so nothing piles up. Streams are bounded
 * per instance and per client address; `close()` ends them all (SIGTERM).
 */
import { addressSubject } from "../guard/client_address.ts";
import { Problem } from "../region/problem.ts";

/** Most status streams one instance holds. */
export const STATUS_STREAMS_MAX = 64;
/** Most status streams one client address holds on one instance. */
export const STATUS_STREAMS_PER_ADDRESS_MAX = 8;
/** How often the document is computed while anyone listens, in ms. */
export const STATUS_SAMPLE_MS = 250;
/** Longest time between two snapshots of a stream, in ms. */
export const STATUS_SNAPSHOT_MS = 1_000;
/** Pause after which a stream that sent nothing gets a keep-alive comment, in ms. */
export const STATUS_KEEPALIVE_MS = 15_000;
/** What an EventSource waits before reconnecting (`retry:`), in ms. */
export const STATUS_RETRY_MS = 1_000;
/** `Retry-After` of a refused stream, in seconds. */
export const STATUS_STREAM_RETRY_AFTER_S = 5;

if (STATUS_SAMPLE_MS > STATUS_SNAPSHOT_MS || STATUS_SNAPSHOT_MS >= STATUS_KEEPALIVE_MS) {
  throw new Error("STATUS_SAMPLE_MS ≤ STATUS_SNAPSHOT_MS < STATUS_KEEPALIVE_MS must hold");
}
if (STATUS_STREAMS_PER_ADDRESS_MAX > STATUS_STREAMS_MAX) {
  throw new Error("STATUS_STREAMS_PER_ADDRESS_MAX must not exceed STATUS_STREAMS_MAX");
}

export interface StatusFeedOptions<Doc> {
  /** The document now; a throw is sent as an `unavailable` event. */
  readonly snapshot: () => Promise<Doc>;
  /** The part of a document whose change is sent at once. */
  readonly changeKey: (doc: Doc) => string;
  readonly sampleMs?: number;
  readonly snapshotMs?: number;
  readonly keepaliveMs?: number;
  readonly streamsMax?: number;
  readonly perAddressMax?: number;
  /** Told when a stream opens (+1) or ends (-1). */
  readonly onStreams?: (delta: 1 | -1) => void;
}

interface Listener {
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** The newest frame that did not fit the stream's queue yet. */
  waiting: Uint8Array | null;
  lastSentMs: number;
  end(): void;
}

const encoder = new TextEncoder();

export class StatusFeed<Doc> {
  readonly #o: StatusFeedOptions<Doc>;
  readonly #listeners = new Set<Listener>();
  readonly #perAddress = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #sampling: Promise<void> | null = null;
  #latest: Uint8Array | null = null;
  #lastKey: string | null = null;
  #lastSnapshotMs = -Infinity;
  #seq = 0;

  constructor(options: StatusFeedOptions<Doc>) {
    this.#o = options;
  }

  /** Streams open on this instance. */
  get size(): number {
    return this.#listeners.size;
  }

  /**
   * The SSE response of a new stream for a client at `address`, ending when `signal` aborts,
   * the client goes away or `close()` runs. Throws 429 `rate-limited` past either bound.
   */
  open(address: string, signal: AbortSignal): Response {
    const subject = addressSubject(address);
    const held = this.#perAddress.get(subject) ?? 0;
    const refuse = (detail: string) =>
      new Problem("rate-limited", detail, { "retry-after": String(STATUS_STREAM_RETRY_AFTER_S) });
    if (held >= (this.#o.perAddressMax ?? STATUS_STREAMS_PER_ADDRESS_MAX)) {
      throw refuse(`This address holds ${held} status streams here already; close one first`);
    }
    if (this.size >= (this.#o.streamsMax ?? STATUS_STREAMS_MAX)) {
      throw refuse(`This instance holds ${this.size} status streams already; retry later`);
    }
    this.#perAddress.set(subject, held + 1);
    let listener!: Listener;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        listener = this.#listen(
          controller,
          subject,
          () => signal.removeEventListener("abort", end),
        );
        controller.enqueue(encoder.encode(`retry: ${STATUS_RETRY_MS}\n\n`));
      },
      pull: () => {
        if (listener.waiting === null) return;
        listener.controller.enqueue(listener.waiting);
        listener.waiting = null;
      },
      cancel: () => listener.end(),
    }, new CountQueuingStrategy({ highWaterMark: 1 }));
    const end = () => listener.end();
    signal.addEventListener("abort", end, { once: true });
    if (signal.aborted) end();
    if (this.#latest !== null) this.#send(listener, this.#latest);
    this.#schedule(0);
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  }

  /** Computes the document once and sends it where due (the timer does this; tests call it). */
  sample(): Promise<void> {
    this.#sampling ??= this.#sample().finally(() => this.#sampling = null);
    return this.#sampling;
  }

  /** Ends every stream and stops sampling. */
  close(): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener.controller.close();
      } catch { /* already closed */ }
      listener.end();
    }
  }

  #listen(
    controller: ReadableStreamDefaultController<Uint8Array>,
    subject: string,
    detach: () => void,
  ): Listener {
    let ended = false;
    const listener: Listener = {
      controller,
      waiting: null,
      lastSentMs: performance.now(),
      end: () => {
        if (ended) return;
        ended = true;
        detach();
        this.#listeners.delete(listener);
        const left = (this.#perAddress.get(subject) ?? 1) - 1;
        if (left <= 0) this.#perAddress.delete(subject);
        else this.#perAddress.set(subject, left);
        this.#o.onStreams?.(-1);
        if (this.#listeners.size === 0) this.#stop();
      },
    };
    this.#listeners.add(listener);
    this.#o.onStreams?.(1);
    return listener;
  }

  async #sample(): Promise<void> {
    let frame: Uint8Array, key: string;
    try {
      const doc = await this.#o.snapshot();
      key = this.#o.changeKey(doc);
      frame = this.#frame("snapshot", JSON.stringify(doc));
    } catch (error) {
      key = "unavailable";
      const detail = error instanceof Error ? error.message : String(error);
      frame = this.#frame("unavailable", JSON.stringify({ detail }));
    }
    const now = performance.now();
    const due = now - this.#lastSnapshotMs >= (this.#o.snapshotMs ?? STATUS_SNAPSHOT_MS);
    if (key !== this.#lastKey || due) {
      this.#lastKey = key;
      this.#lastSnapshotMs = now;
      this.#latest = frame;
      for (const listener of this.#listeners) this.#send(listener, frame);
      return;
    }
    const keepalive = encoder.encode(": keep-alive\n\n");
    for (const listener of this.#listeners) {
      if (now - listener.lastSentMs < (this.#o.keepaliveMs ?? STATUS_KEEPALIVE_MS)) continue;
      if (listener.waiting === null) this.#send(listener, keepalive);
    }
  }

  #frame(event: string, data: string): Uint8Array {
    return encoder.encode(`id: ${++this.#seq}\nevent: ${event}\ndata: ${data}\n\n`);
  }

  #send(listener: Listener, frame: Uint8Array): void {
    listener.lastSentMs = performance.now();
    const room = listener.controller.desiredSize ?? 0;
    if (room <= 0) {
      listener.waiting = frame; // the newest replaces what had not fit yet
      return;
    }
    try {
      listener.controller.enqueue(frame);
    } catch {
      listener.end(); // closed meanwhile
    }
  }

  #schedule(delayMs: number): void {
    if (this.#listeners.size === 0) return;
    if (this.#timer !== null) {
      if (delayMs > 0) return;
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(async () => {
      this.#timer = null;
      await this.sample();
      this.#schedule(this.#o.sampleMs ?? STATUS_SAMPLE_MS);
    }, delayMs);
  }

  #stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#latest = null;
    this.#lastKey = null;
    this.#lastSnapshotMs = -Infinity;
  }
}
