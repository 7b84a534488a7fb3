/**
 * Byzantine agents for the seeded mesh simulation: each now and then signs two different deltas
 * with one seq and pushes them to two different regions at once — in an ordinary channel, or in
 * `_equivocations` (two proofs against two sock puppets whose own deltas are never pushed). Keeps
 * the ids any region stored, so the simulation can require every region to end with all of them.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { EQUIVOCATIONS_CHANNEL, proofValue } from "../../src/protocol/equivocation.ts";
import type { InProcessMesh } from "./in_process_mesh.ts";
import type { Rng } from "./seeded_rng.ts";
import { bodyOf, idOf, signBody } from "./signing.ts";

export class SimEquivocators {
  /** Ids some region stored, by channel (every region must end with them all). */
  readonly stored = new Map<string, Set<string>>();
  readonly #keys: AgentKey[];
  readonly #seqs = new Map<string, number>();
  readonly #chance: number;
  stats = { equivocations: 0, proofPairs: 0 };

  constructor(
    readonly rng: Rng,
    readonly mesh: InProcessMesh,
    readonly ids: readonly string[],
    readonly channels: readonly string[],
  ) {
    this.#keys = Array.from({ length: rng.between(1, 2) }, () => AgentKey.generate());
    this.#chance = 0.02 + rng.next() * 0.08;
    for (const c of [...channels, EQUIVOCATIONS_CHANNEL]) this.stored.set(c, new Set());
  }

  /** How many deltas some region stored for them, in every channel. */
  get total(): number {
    return [...this.stored.values()].reduce((n, s) => n + s.size, 0);
  }

  /** One tick's worth: each equivocator may tell two regions two stories at once. */
  async act(): Promise<void> {
    for (const key of this.#keys) {
      if (!this.rng.chance(this.#chance)) continue;
      const channel = this.rng.pick([...this.channels, EQUIVOCATIONS_CHANNEL]);
      const seq = (this.#seqs.get(`${key.id}/${channel}`) ?? 0) + 1;
      this.#seqs.set(`${key.id}/${channel}`, seq);
      const [a, b] = channel === EQUIVOCATIONS_CHANNEL
        ? [this.#proof(key, seq), this.#proof(key, seq)]
        : ["one", "two"].map((v) => this.#signed(key, channel, seq, v));
      if (channel === EQUIVOCATIONS_CHANNEL) this.stats.proofPairs++;
      else this.stats.equivocations++;
      const [r1, r2] = this.rng.shuffle([...this.ids]);
      await Promise.all([this.#push(r1, channel, a), this.#push(r2, channel, b)]);
    }
  }

  #signed(key: AgentKey, channel: string, seq: number, value: string): Envelope {
    const ops = [{ op: "set", key: "k", value }];
    return signBody(key, JSON.stringify(bodyOf(key, { channel, seq, ts: this.mesh.nowMs, ops })));
  }

  /** A proof against a fresh puppet, published by `key` at `seq`. */
  #proof(key: AgentKey, seq: number): Envelope {
    const puppet = AgentKey.generate();
    const [x, y] = ["p", "q"].map((v) => this.#signed(puppet, "room", 1, v));
    const value = proofValue({ ...x, id: idOf(x) }, { ...y, id: idOf(y) });
    const ops = [{ op: "set", key: puppet.id, value }];
    const body = bodyOf(key, { channel: EQUIVOCATIONS_CHANNEL, seq, ts: this.mesh.nowMs, ops });
    return signBody(key, JSON.stringify(body));
  }

  async #push(region: string, channel: string, envelope: Envelope): Promise<void> {
    const [result] = await this.mesh.push(region, [envelope]) as {
      status: string;
      reason?: string;
    }[];
    const outcome = result.reason ?? result.status;
    assert.ok(
      ["accepted", "duplicate", "seq_conflict", "quarantined"].includes(outcome),
      `an equivocator's push to ${region} answered ${JSON.stringify(result)}`,
    );
    // Stored there unless refused before the store (a region that knows the author cheated).
    if (outcome !== "quarantined") this.stored.get(channel)!.add(idOf(envelope));
  }
}
