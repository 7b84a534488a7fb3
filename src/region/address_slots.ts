/**
 * Requests held open per client address on one instance (SSE streams, long-polls), capped: one
 * address cannot hold all of an instance's waiting slots. Past the cap, 429 with `Retry-After`.
 */
import { addressSubject } from "../guard/client_address.ts";
import { Problem } from "./problem.ts";

export class AddressSlots {
  readonly #held = new Map<string, number>();
  readonly #max: number;
  /** What a slot is, in the refusal's words ("subscriptions", "waiting reads"). */
  readonly #what: string;

  constructor(max: number, what: string) {
    this.#max = max;
    this.#what = what;
  }

  /** Takes a slot for `address`; the function returned gives it back (once). */
  claim(raw: string): () => void {
    // One budget per subject, as every per-address budget: an IPv6 /64, an IPv4-mapped address.
    const address = addressSubject(raw);
    const held = this.#held.get(address) ?? 0;
    if (held >= this.#max) {
      throw new Problem(
        "rate-limited",
        `This address holds ${held} ${this.#what} here already; close one first`,
        { "retry-after": "5" },
      );
    }
    this.#held.set(address, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#held.get(address) ?? 1) - 1;
      if (left === 0) this.#held.delete(address);
      else this.#held.set(address, left);
    };
  }
}
