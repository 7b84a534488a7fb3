/**
 * Seeded randomness for simulations: everything a simulated run decides comes from one of these,
 * so a run is a function of its seed and a failing seed can be replayed (`MESH_SIM_SEED`).
 */

/** mulberry32: a tiny deterministic PRNG. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = (seed ^ Math.floor(seed / 2 ** 32)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Shuffles `items` in place and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }
}

/** The seeds to run: `MESH_SIM_SEED` when set (replay one), else `defaults`. */
export function seedsToRun(defaults: readonly number[]): number[] {
  const env = Deno.env.get("MESH_SIM_SEED");
  if (env === undefined || env === "") return [...defaults];
  const seed = Number(env);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`Cannot replay MESH_SIM_SEED as it is not an integer >= 0: "${env}"`);
  }
  return [seed];
}
