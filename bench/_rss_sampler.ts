/**
 * A child process's resident memory sampled from /proc (bench/million_region.ts), and an
 * open-loop pacer for the load it serves meanwhile.
 */

/** Interval between two reads of /proc/<pid>/status, ms. */
export const RSS_SAMPLE_MS = 100;
/** Samples kept (an hour at RSS_SAMPLE_MS). */
const RSS_SAMPLES_MAX = 36_000;

/** VmRSS of `pid` in MB, or NaN when the process is gone. */
export function vmRssMb(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

export class RssSampler {
  readonly #pid: number;
  readonly #t0 = performance.now();
  readonly #samples: { ms: number; mb: number }[] = [];
  readonly #marks: { name: string; ms: number; mb: number }[] = [];
  readonly #timer: ReturnType<typeof setInterval>;
  #peak = 0;
  #peakOverall = 0;

  constructor(pid: number) {
    this.#pid = pid;
    this.#timer = setInterval(() => this.#sample(), RSS_SAMPLE_MS);
  }

  #sample(): number {
    const mb = vmRssMb(this.#pid);
    if (Number.isNaN(mb)) return mb;
    if (this.#samples.length < RSS_SAMPLES_MAX) {
      this.#samples.push({ ms: Math.round(performance.now() - this.#t0), mb });
    }
    this.#peak = Math.max(this.#peak, mb);
    this.#peakOverall = Math.max(this.#peakOverall, mb);
    return mb;
  }

  /** RSS now, MB (rounded), remembered under `name`. */
  mark(name: string): number {
    const mb = this.#sample();
    this.#marks.push({ name, ms: Math.round(performance.now() - this.#t0), mb: Math.round(mb) });
    return Math.round(mb);
  }

  /** Highest minus lowest RSS of the last `windowMs`, MB. */
  rangeMb(windowMs: number): number {
    const since = performance.now() - this.#t0 - windowMs;
    const recent = this.#samples.filter((s) => s.ms >= since).map((s) => s.mb);
    return recent.length === 0 ? Infinity : Math.max(...recent) - Math.min(...recent);
  }

  resetPeak(): void {
    this.#peak = 0;
  }

  get peakMb(): number {
    return Math.round(this.#peak);
  }

  get peakOverallMb(): number {
    return Math.round(this.#peakOverall);
  }

  /** One sample per `stepMs` (the highest in each step), and the marks: [s, MB]. */
  timeline(stepMs: number) {
    const steps = new Map<number, number>();
    for (const s of this.#samples) {
      const k = Math.floor(s.ms / stepMs);
      steps.set(k, Math.max(steps.get(k) ?? 0, s.mb));
    }
    return {
      stepS: stepMs / 1000,
      mb: [...steps.entries()].map(([k, mb]) => [k * stepMs / 1000, Math.round(mb)]),
      marks: this.#marks.map((m) => ({ name: m.name, s: m.ms / 1000, mb: m.mb })),
    };
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

export interface Pace {
  /** Latency of each request sent, ms. */
  readonly ms: number[];
  /** Requests that answered as expected. */
  readonly ok: number;
  /** Requests not sent: `inFlightMax` were outstanding when they were due. */
  readonly shed: number;
}

/**
 * Calls `send(i)` at `perSecond` for `seconds`, open loop (each at its due time) while fewer
 * than `inFlightMax` are outstanding; a call due beyond that is not sent (counted in `shed`), so
 * a server that falls behind sees a bounded queue, as behind a client's connection pool.
 */
export async function paced(
  perSecond: number,
  seconds: number,
  send: (i: number) => Promise<boolean>,
  inFlightMax = Infinity,
): Promise<Pace> {
  const count = Math.round(perSecond * seconds);
  const ms: number[] = [];
  let ok = 0, shed = 0, inFlight = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: count }, async (_, i) => {
    const due = started + (i * 1000) / perSecond;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    if (inFlight >= inFlightMax) return void shed++;
    inFlight++;
    const t = performance.now();
    const good = await send(i).catch(() => false);
    inFlight--;
    ms.push(performance.now() - t);
    if (good) ok++;
  }));
  return { ms, ok, shed };
}

/** p50 / p99 / max of `ms`, rounded to 0.1 ms. */
export function quantiles(ms: readonly number[]) {
  const sorted = [...ms].sort((a, b) => a - b);
  const q = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  const r = (x: number) => Math.round(x * 10) / 10;
  return { p50Ms: r(q(0.5)), p99Ms: r(q(0.99)), maxMs: r(sorted.at(-1) ?? NaN) };
}
