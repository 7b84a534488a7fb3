/** In-memory RegionStore for pure unit tests. Same semantics as the durable stores. */
import { planPut, slotKey } from "./_put_plan.ts";
import {
  type ArrivalPage,
  type ArrivedDelta,
  type AuthorHead,
  type PutOutcome,
  type RegionStore,
  type StoredDelta,
  StoreUnavailableError,
} from "./region_store.ts";

export class MemoryStore implements RegionStore {
  readonly kind = "memory";
  readonly #records = new Map<string, ArrivedDelta>(); // `${channel}\0${id}`
  readonly #slots = new Map<string, string>();
  readonly #heads = new Map<string, AuthorHead>();
  readonly #arrivals = new Map<string, ArrivedDelta[]>();
  /** When set, every operation throws StoreUnavailableError (for failure tests). */
  failing = false;

  // deno-lint-ignore require-await
  async putDeltas(deltas: readonly StoredDelta[]): Promise<PutOutcome[]> {
    this.#check();
    const plan = planPut(deltas, {
      slots: this.#slots,
      heads: this.#heads,
      nextArrival: new Map(
        [...new Set(deltas.map((d) => d.channel))].map((
          c,
        ) => [c, (this.#arrivals.get(c)?.length ?? 0) + 1]),
      ),
      storedAbove: (channel, author, seq) => this.#slots.has(slotKey(channel, author, seq)),
    });
    for (const { delta, arrival } of plan.writes) {
      const arrived = { ...delta, arrival };
      this.#records.set(`${delta.channel}\u0000${delta.id}`, arrived);
      this.#slots.set(
        slotKey(delta.channel, delta.author, delta.seq),
        delta.id,
      );
      let list = this.#arrivals.get(delta.channel);
      if (list === undefined) this.#arrivals.set(delta.channel, list = []);
      list.push(arrived);
    }
    for (const [key, head] of plan.heads) this.#heads.set(key, head);
    return plan.outcomes;
  }

  // deno-lint-ignore require-await
  async getDelta(channel: string, id: string): Promise<StoredDelta | null> {
    this.#check();
    const record = this.#records.get(`${channel}\u0000${id}`);
    return record === undefined ? null : strip(record);
  }

  // deno-lint-ignore require-await
  async listArrivals(
    channel: string,
    after: number,
    limit: number,
  ): Promise<ArrivalPage> {
    this.#check();
    const list = this.#arrivals.get(channel) ?? [];
    const deltas = list.slice(after, after + limit);
    return {
      deltas,
      cursor: deltas.at(-1)?.arrival ?? after,
      more: after + deltas.length < list.length,
    };
  }

  // deno-lint-ignore require-await
  async getHead(channel: string, author: string): Promise<AuthorHead | null> {
    this.#check();
    return this.#heads.get(`${channel}\u0000${author}`) ?? null;
  }

  // deno-lint-ignore require-await
  async ping(): Promise<void> {
    this.#check();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #check(): void {
    if (this.failing) {
      throw new StoreUnavailableError("memory store is set to fail");
    }
  }
}

function strip(record: ArrivedDelta): StoredDelta {
  const { arrival: _, ...delta } = record;
  return delta;
}
