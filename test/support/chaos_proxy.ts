/**
 * A fault-injecting HTTP proxy for tests between regions: real HTTP on 127.0.0.1 (a free port),
 * forwarding every request to a target base URL with `fetch` — method, path, query, headers and
 * body bytes as received — and answering with the upstream's status, headers and body.
 *
 * Faults are set at runtime with {@linkcode ChaosProxy.set} and drawn from a seeded PRNG, so a
 * chaos test replays exactly (for requests that arrive in the same order). Per request, in order:
 *
 * 1. `cut`: answer 502 at once, never forwarding (a link that is down).
 * 2. `drop` (probability): answer 503 without forwarding (a lost request).
 * 3. `reorder`: hold the request up to `reorderWindowMs`, then forward the held batch one after
 *    another in a shuffled order (each waits for the previous one's answer, so the upstream sees
 *    exactly that order).
 * 4. `delayMs ± jitterMs`: wait, uniformly in [delay - jitter, delay + jitter], at least 0 (as
 *    netem's `delay 100ms 10ms`); the answer waits `answerDelayMs` more on its way back.
 * 5. `duplicate` (probability): send the request twice at once; answer with the first copy's
 *    response once both have answered (so "delivered twice" holds when the client sees it).
 *
 * Answers the proxy makes itself carry `x-chaos: cut|drop|failed|stopped|too-large`. Bodies are
 * buffered both ways (bounded by {@linkcode PROXY_BODY_BYTES_MAX}): region-to-region calls are
 * request/response, and buffering lets `stop()` end everything at once. Streams (SSE) are not
 * supported. Hop-by-hop headers and `host` are not forwarded; `content-encoding` and
 * `content-length` of the answer are dropped, since `fetch` has already decoded the body.
 *
 * `stop()` answers whatever is held or delayed with 503, aborts upstream requests, closes the
 * server and the proxy's own HTTP client: no timers or sockets remain (test sanitizers pass).
 */
import { z } from "zod";

/** Largest request or response body the proxy buffers, in bytes. */
export const PROXY_BODY_BYTES_MAX = 8 * 1024 * 1024;
/** Longest delay or jitter a setting may name, in ms. */
export const PROXY_DELAY_MS_MAX = 60_000;
/** Default time requests are held to be reordered, in ms. */
export const REORDER_WINDOW_MS_DEFAULT = 25;
/** Most requests held for reordering at once; a full batch is released at once. */
export const REORDER_HELD_MAX = 256;

const settingsSchema = z.strictObject({
  /** Probability of answering 503 without forwarding. Default 0. */
  drop: z.number().min(0).max(1).optional(),
  /** Delay before forwarding, in ms. Default 0. */
  delayMs: z.number().min(0).max(PROXY_DELAY_MS_MAX).optional(),
  /**
   * Delay of the answer on its way back, in ms (no jitter). Default 0: only the request is
   * delayed. A link with `delayMs` one way in each direction sets both.
   */
  answerDelayMs: z.number().min(0).max(PROXY_DELAY_MS_MAX).optional(),
  /** Uniform jitter around the delay, ± this many ms. Default 0. */
  jitterMs: z.number().min(0).max(PROXY_DELAY_MS_MAX).optional(),
  /** Probability of forwarding the request twice. Default 0. */
  duplicate: z.number().min(0).max(1).optional(),
  /** Hold requests briefly and forward them in random order. Default false. */
  reorder: z.boolean().optional(),
  /** Refuse everything with 502, forwarding nothing. Default false. */
  cut: z.boolean().optional(),
});

/** The faults in force; `{}` heals. */
export type ChaosSettings = Readonly<z.infer<typeof settingsSchema>>;

const optionsSchema = z.strictObject({
  /** Base URL requests are forwarded to, e.g. `http://127.0.0.1:8001`. */
  target: z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, "")),
  /** PRNG seed; print it on failure to replay. Default: random. */
  seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
  /** How long requests are held when `reorder` is on, in ms. Default 25. */
  reorderWindowMs: z.number().int().min(1).max(PROXY_DELAY_MS_MAX).default(
    REORDER_WINDOW_MS_DEFAULT,
  ),
});

export type ChaosProxyOptions = z.input<typeof optionsSchema>;

/** What the proxy did, since start or the last `resetCounters()`. */
export interface ChaosCounters {
  /** Requests received from clients. */
  received: number;
  /** Requests sent upstream (once each; extra copies are `duplicated`). */
  forwarded: number;
  /** Requests answered 503 by `drop`. */
  dropped: number;
  /** Extra copies sent by `duplicate`. */
  duplicated: number;
  /** Requests refused by `cut`. */
  cut: number;
  /** Requests that went through a reorder batch. */
  reordered: number;
  /** Forwarded requests whose upstream call failed (answered 502). */
  failed: number;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "host",
  "content-length",
]);
const DECODED = new Set(["content-encoding", "content-length", "transfer-encoding", "connection"]);
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/** mulberry32: small, fast, and the whole fault sequence is a function of the seed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    let t = (state = (state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Resolves true after `ms`, or false at once when `signal` aborts (the timer is cleared). */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function refusal(status: number, reason: string): Response {
  return new Response(`chaos proxy: ${reason}`, {
    status,
    headers: { "content-type": "text/plain", "x-chaos": reason },
  });
}

interface Upstream {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly body: Uint8Array<ArrayBuffer>;
}

/** A request held for reordering: `open(true)` lets it go on, `open(false)` refuses it. */
interface Held {
  readonly open: (go: boolean) => void;
  /** Settles when the request's upstream call is over. */
  readonly done: Promise<void>;
}

export class ChaosProxy {
  /** `http://127.0.0.1:<port>`: the URL to give the client instead of the target. */
  readonly url: string;
  readonly target: string;
  /**
   * Rewrites a request body before it is forwarded (a Byzantine sender tampering with what it
   * sends); null forwards the original. Applied after the other faults decided to forward.
   */
  rewrite:
    | ((
      path: string,
      body: Uint8Array,
      headers: Headers,
    ) => { body: Uint8Array; headers: Headers } | null)
    | null = null;
  readonly seed: number;
  readonly #reorderWindowMs: number;
  readonly #random: () => number;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #client: Deno.HttpClient;
  readonly #stop = new AbortController();
  #settings: ChaosSettings = {};
  #counters: ChaosCounters = ChaosProxy.#zero();
  #held: Held[] = [];
  #holdTimer: ReturnType<typeof setTimeout> | undefined;
  #releasing: Promise<void> = Promise.resolve();
  #stopped: Promise<void> | null = null;

  /** Starts a proxy in front of `options.target`; throws naming an invalid option. */
  constructor(options: ChaosProxyOptions) {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new TypeError(
        `Cannot start ChaosProxy as ${
          issue.path.join(".") || "options"
        } is invalid: ${issue.message}`,
      );
    }
    this.target = parsed.data.target;
    this.seed = parsed.data.seed ?? Math.floor(Math.random() * 2 ** 32);
    this.#reorderWindowMs = parsed.data.reorderWindowMs;
    this.#random = mulberry32(this.seed);
    this.#client = Deno.createHttpClient({});
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.url = `http://127.0.0.1:${this.#server.addr.port}`;
  }

  static #zero(): ChaosCounters {
    return {
      received: 0,
      forwarded: 0,
      dropped: 0,
      duplicated: 0,
      cut: 0,
      reordered: 0,
      failed: 0,
    };
  }

  /** Replaces the faults in force (not a merge): `set({})` heals every fault. */
  set(settings: ChaosSettings): void {
    const parsed = settingsSchema.safeParse(settings);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new TypeError(
        `Cannot set chaos as ${issue.path.join(".") || "settings"} is invalid: ${issue.message}`,
      );
    }
    this.#settings = Object.freeze(parsed.data);
    // Turning reorder off must not strand requests already held.
    if (!this.#settings.reorder) this.#releaseHeld();
  }

  get settings(): ChaosSettings {
    return this.#settings;
  }

  /** A snapshot of the counters. */
  get counters(): Readonly<ChaosCounters> {
    return { ...this.#counters };
  }

  resetCounters(): void {
    this.#counters = ChaosProxy.#zero();
  }

  /** Refuses held and delayed requests, aborts upstream calls, closes the server and client. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stop.abort();
      clearTimeout(this.#holdTimer);
      this.#holdTimer = undefined;
      for (const held of this.#held.splice(0)) held.open(false);
      await this.#releasing;
      await this.#server.shutdown();
      this.#client.close();
    })();
    return this.#stopped;
  }

  async #handle(request: Request): Promise<Response> {
    this.#counters.received++;
    const settings = this.#settings;
    if (this.#stop.signal.aborted) return refusal(503, "stopped");
    if (settings.cut) {
      this.#counters.cut++;
      return refusal(502, "cut");
    }
    if (settings.drop && this.#random() < settings.drop) {
      this.#counters.dropped++;
      return refusal(503, "drop");
    }
    const body = await this.#readBody(request);
    if (body === null) return refusal(413, "too-large");
    if (settings.reorder) return await this.#heldThenForwarded(request, body);
    return await this.#delayedThenForwarded(request, body);
  }

  async #readBody(request: Request): Promise<Uint8Array<ArrayBuffer> | null> {
    const declared = Number(request.headers.get("content-length") ?? 0);
    if (declared > PROXY_BODY_BYTES_MAX) return null;
    const bytes = new Uint8Array(await request.arrayBuffer());
    return bytes.length > PROXY_BODY_BYTES_MAX ? null : bytes;
  }

  async #heldThenForwarded(request: Request, body: Uint8Array<ArrayBuffer>): Promise<Response> {
    let open!: (go: boolean) => void;
    let finish!: () => void;
    const gate = new Promise<boolean>((resolve) => (open = resolve));
    const done = new Promise<void>((resolve) => (finish = resolve));
    this.#held.push({ open, done });
    this.#counters.reordered++;
    if (this.#held.length >= REORDER_HELD_MAX) this.#releaseHeld();
    else this.#holdTimer ??= setTimeout(() => this.#releaseHeld(), this.#reorderWindowMs);
    try {
      if (!await gate) return refusal(503, "stopped");
      return await this.#delayedThenForwarded(request, body);
    } finally {
      finish();
    }
  }

  /** Shuffles the held batch and lets it go one request after another. */
  #releaseHeld(): void {
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    const batch = this.#held.splice(0);
    if (batch.length === 0) return;
    for (let i = batch.length - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1));
      [batch[i], batch[j]] = [batch[j], batch[i]];
    }
    this.#releasing = this.#releasing.then(async () => {
      for (const held of batch) {
        held.open(true);
        await held.done;
      }
    });
  }

  async #delayedThenForwarded(
    request: Request,
    body: Uint8Array<ArrayBuffer>,
  ): Promise<Response> {
    const settings = this.#settings;
    const jitter = settings.jitterMs ? (this.#random() * 2 - 1) * settings.jitterMs : 0;
    const delayMs = Math.max(0, (settings.delayMs ?? 0) + jitter);
    if (delayMs > 0 && !await sleep(delayMs, this.#stop.signal)) return refusal(503, "stopped");
    const twice = settings.duplicate !== undefined && this.#random() < settings.duplicate;
    this.#counters.forwarded++;
    if (twice) this.#counters.duplicated++;
    const copies = [this.#forward(request, body)];
    if (twice) copies.push(this.#forward(request, body));
    const [first] = await Promise.allSettled(copies);
    if (first.status === "rejected") {
      this.#counters.failed++;
      return refusal(502, this.#stop.signal.aborted ? "stopped" : "failed");
    }
    const answer = first.value;
    const back = settings.answerDelayMs ?? 0;
    if (back > 0 && !await sleep(back, this.#stop.signal)) return refusal(503, "stopped");
    return new Response(NULL_BODY_STATUS.has(answer.status) ? null : answer.body, {
      status: answer.status,
      statusText: answer.statusText,
      headers: answer.headers,
    });
  }

  async #forward(request: Request, body: Uint8Array<ArrayBuffer>): Promise<Upstream> {
    const url = new URL(request.url);
    const headers = new Headers();
    for (const [name, value] of request.headers) {
      if (!HOP_BY_HOP.has(name)) headers.append(name, value);
    }
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    let sent: Uint8Array = body;
    const rewritten = hasBody && this.rewrite !== null
      ? this.rewrite(url.pathname, body, headers)
      : null;
    if (rewritten !== null) {
      sent = rewritten.body;
      for (const [name, value] of rewritten.headers) headers.set(name, value);
      headers.delete("content-length");
    }
    const response = await fetch(`${this.target}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      body: hasBody ? sent as Uint8Array<ArrayBuffer> : undefined,
      redirect: "manual",
      signal: this.#stop.signal,
      client: this.#client,
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.length > PROXY_BODY_BYTES_MAX) throw new RangeError("upstream body too large");
    const answerHeaders = new Headers();
    for (const [name, value] of response.headers) {
      if (!DECODED.has(name)) answerHeaders.append(name, value);
    }
    return {
      status: response.status,
      statusText: response.statusText,
      headers: answerHeaders,
      body: bytes,
    };
  }
}

/** Starts a chaos proxy in front of `target` (sugar for `new ChaosProxy(...)`). */
export function startChaosProxy(options: ChaosProxyOptions): ChaosProxy {
  return new ChaosProxy(options);
}
