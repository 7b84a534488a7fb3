/**
 * An agent writing to the mesh: signs deltas with its key, numbers them per channel (seq 1, 2,
 * 3, ... without gaps) and stamps them with a hybrid logical clock.
 *
 * A signed delta must be retried as is: signing a different body with a seq already used is
 * equivocation, which regions reject (`seq_conflict`) and later issues punish.
 */
import { encodeBase64Url } from "../protocol/base64url.ts";
import { type DeltaBody, type Op, signedMessage } from "../protocol/delta.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import type { AgentKey } from "./agent_key.ts";
import { HybridClock } from "./hybrid_clock.ts";
import type { Envelope, MeshClient } from "./mesh_client.ts";

export class Agent {
  readonly key: AgentKey;
  readonly clock: HybridClock;
  readonly #seqs = new Map<string, number>();

  constructor(key: AgentKey, clock: HybridClock = new HybridClock()) {
    this.key = key;
    this.clock = clock;
  }

  /** Continues numbering `channel` after `seq` (e.g. the region's head for this author). */
  resume(channel: string, seq: number): void {
    this.#seqs.set(channel, Math.max(this.#seqs.get(channel) ?? 0, seq));
  }

  /** Resumes `channel` from the highest seq of this author the region has stored. */
  async resumeFrom(client: MeshClient, channel: string): Promise<void> {
    this.resume(channel, (await client.head(channel, this.key.id)).max);
  }

  /** Signs the next delta of `channel` carrying `ops`. */
  sign(channel: string, ops: readonly Op[]): Envelope {
    const seq = (this.#seqs.get(channel) ?? 0) + 1;
    const { ts, lc } = this.clock.next();
    const body: DeltaBody = {
      v: 1,
      author: this.key.id,
      seq,
      channel,
      ts,
      lc,
      ops: [...ops],
    };
    const text = JSON.stringify(body);
    const sig = encodeBase64Url(this.key.sign(signedMessage(utf8Encode(text))));
    this.#seqs.set(channel, seq);
    return { body: text, sig };
  }
}
