/**
 * Requests held open per client address on one instance (SSE streams, long-polls), capped: one
 * address cannot hold all of an instance's waiting slots. The caller answers a refused claim
 * (429 with `Retry-After` on the region's routes).
 */
import { addressSubject } from "./client_address.ts";

export class AddressSlots {
  readonly #held = new Map<string, number>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /**
   * Takes a slot for `address`: the function that gives it back (once), or null when the
   * address already holds its most.
   */
  claim(raw: string): (() => void) | null {
    // One budget per subject, as every per-address budget: an IPv6 /64, an IPv4-mapped address.
    const address = addressSubject(raw);
    const held = this.#held.get(address) ?? 0;
    if (held >= this.#max) return null;
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
