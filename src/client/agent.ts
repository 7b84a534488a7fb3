/**
 * An agent writing to the mesh: signs deltas with its key, numbers them per channel (seq 1, 2,
 * 3, ... without gaps) and stamps them with a hybrid logical clock.
 *
 * A signed delta must be retried as is: signing a different body with a seq already used is
 * equivocation, and regions quarantine the key for good (docs/protocol.md §8.1). `signNext()`
 * claims each seq from a `SeqLedger` (durable with `FileSeqLedger`) before signing, one claim at a
 * time per channel, so any number of concurrent calls get distinct seqs in stamp order.
 */
import { type AgentCard, REGISTRY_CHANNEL } from "../protocol/agent_card.ts";
import { encodeBase64Url } from "../protocol/base64url.ts";
import {
  type DeltaBody,
  type Op,
  type OpValue,
  type RejectReason,
  signedMessage,
} from "../protocol/delta.ts";
import { parseEnvelope } from "../protocol/envelope.ts";
import { HLC_COUNTER_MAX, INTEGER_MAX } from "../protocol/limits.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import type { DeltaResult } from "../protocol/result.ts";
import type { AgentKey } from "../crypto/agent_key.ts";
import { HybridClock } from "./hybrid_clock.ts";
import type { Envelope, MeshClient, TraceOptions } from "./mesh_client.ts";
import { MemorySeqLedger, type SeqLedger } from "./seq_ledger.ts";

/**
 * A delta every region would refuse whatever its seq (bad ops, a bad channel name, too large):
 * thrown before a seq is claimed, so a mistake never leaves a gap in the author's seqs.
 */
export class InvalidDeltaError extends Error {
  constructor(readonly reason: RejectReason, readonly detail: string) {
    super(`Every region would refuse this delta (${reason}): ${detail}`);
    this.name = "InvalidDeltaError";
  }
}

export class Agent {
  readonly key: AgentKey;
  readonly clock: HybridClock;
  readonly ledger: SeqLedger;
  /** Seqs known to be used elsewhere (`resume`): claims start above them. */
  readonly #floors = new Map<string, number>();
  /** The tail of each channel's chain of claims: one claim at a time per channel. */
  readonly #claims = new Map<string, Promise<unknown>>();

  /** Without a `ledger`, seqs live in memory: only for a key this object alone ever signs with. */
  constructor(
    key: AgentKey,
    clock: HybridClock = new HybridClock(),
    ledger: SeqLedger = new MemorySeqLedger(),
  ) {
    this.key = key;
    this.clock = clock;
    this.ledger = ledger;
  }

  /** Numbers later deltas of `channel` above `seq` (e.g. the region's highest seq of this key). */
  resume(channel: string, seq: number): void {
    this.#floors.set(channel, Math.max(this.#floors.get(channel) ?? 0, seq));
  }

  /** Numbers later deltas of `channel` above the highest seq of this key the region stored. */
  async resumeFrom(client: MeshClient, channel: string): Promise<void> {
    // Signed by this agent: a mailbox, or a members-only channel, answers only a signed read.
    this.resume(channel, (await client.head(channel, this.key.id, this.key)).max);
  }

  /**
   * Signs the next delta of `channel` at once, numbering in memory. Only for an agent built
   * without a durable ledger (a programming error otherwise: use `signNext()`).
   */
  sign(channel: string, ops: readonly Op[]): Envelope {
    if (!(this.ledger instanceof MemorySeqLedger)) {
      throw new TypeError("Agent.sign() cannot claim a seq durably: use Agent.signNext()");
    }
    this.check(channel, ops);
    return this.#signAt(channel, this.ledger.claimSync(channel, this.#floor(channel)), ops);
  }

  /** Claims the next seq of `channel` from the ledger, then signs the delta carrying `ops`. */
  signNext(channel: string, ops: readonly Op[]): Promise<Envelope> {
    try {
      this.check(channel, ops);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#claimThen(channel, (seq) => this.#signAt(channel, seq, ops));
  }

  /**
   * Claims the next seq of `channel` from the ledger, then signs the delta carrying `opsOf(seq)`:
   * for ops that name their own seq (a proposal's key is `<author>:<seq>`). The caller checks
   * the ops first; the region's answer is the final word.
   */
  signNextWith(channel: string, opsOf: (seq: number) => readonly Op[]): Promise<Envelope> {
    return this.#claimThen(channel, (seq) => this.#signAt(channel, seq, opsOf(seq)));
  }

  /**
   * Claims the next seq of `channel` from the ledger, then signs the body `fields(seq, ts, lc)`
   * (author and `v` added) with the domain tag of `kind`: how topic and direct messages are
   * numbered and signed (`messaging.ts` builds their fields and checks them first).
   */
  signNextOf(
    channel: string,
    kind: "topic" | "message",
    fields: (seq: number, ts: number, lc: number) => Record<string, unknown>,
  ): Promise<Envelope> {
    return this.#claimThen(channel, (seq) => {
      const { ts, lc } = this.clock.next();
      const text = JSON.stringify({ v: 1, author: this.key.id, ...fields(seq, ts, lc) });
      const sig = encodeBase64Url(this.key.sign(signedMessage(utf8Encode(text), kind)));
      return { body: text, sig };
    });
  }

  /** One claim at a time per channel: `sign` runs with each claimed seq, in call order. */
  #claimThen(channel: string, sign: (seq: number) => Envelope): Promise<Envelope> {
    const previous = this.#claims.get(channel) ?? Promise.resolve();
    const signed = previous.then(async () => {
      const seq = await this.ledger.claim(channel, this.#floor(channel));
      return sign(seq);
    });
    const tail = signed.catch(() => undefined);
    this.#claims.set(channel, tail);
    void tail.then(() => {
      if (this.#claims.get(channel) === tail) this.#claims.delete(channel); // keep the map bounded
    });
    return signed;
  }

  /**
   * Signs the next delta of `channel` (`signNext`) and pushes it; the region's result. `trace`
   * names the trace the push continues (`MeshClient.push`); default the active one, or a new one.
   */
  async push(
    client: MeshClient,
    channel: string,
    ops: readonly Op[],
    trace: TraceOptions = {},
  ): Promise<DeltaResult> {
    const [result] = await client.push([await this.signNext(channel, ops)], trace);
    return result;
  }

  /**
   * Announces this agent with `card` (or replaces its card): signs `set {key: own id, value:
   * card}` in `_registry` and pushes it. A card the schema refuses throws `InvalidDeltaError`
   * (`bad_card`) before a seq is claimed. Seqs come from the ledger like any push: after a
   * restart without a durable ledger, `resumeFrom(client, "_registry")` first.
   */
  announce(client: MeshClient, card: AgentCard): Promise<DeltaResult> {
    return this.push(client, REGISTRY_CHANNEL, [this.announceOp(card)]);
  }

  /** Withdraws this agent's card: signs `del {key: own id}` in `_registry` and pushes it. */
  withdraw(client: MeshClient): Promise<DeltaResult> {
    return this.push(client, REGISTRY_CHANNEL, [{ op: "del", key: this.key.id }]);
  }

  /** The op that announces `card` for this agent (to sign it with `signNext` yourself). */
  announceOp(card: AgentCard): Op {
    return { op: "set", key: this.key.id, value: card as OpValue };
  }

  /**
   * Throws `InvalidDeltaError` when every region would refuse a delta of `ops` in `channel`
   * whatever its seq and clock: the checks of `parseEnvelope` (signature aside) on the body with
   * the longest seq and stamp, so one that passes fits at any.
   */
  check(channel: string, ops: readonly Op[]): void {
    const [seq, ts, lc] = [INTEGER_MAX, INTEGER_MAX, HLC_COUNTER_MAX]; // the longest digits
    const body = { v: 1, author: this.key.id, seq, channel, ts, lc, ops: [...ops] };
    const parsed = parseEnvelope({ body: JSON.stringify(body), sig: "A".repeat(86) }, Infinity);
    if (!parsed.ok && parsed.reason !== "bad_signature") {
      throw new InvalidDeltaError(parsed.reason, parsed.detail);
    }
  }

  #floor(channel: string): number {
    return this.#floors.get(channel) ?? 0;
  }

  #signAt(channel: string, seq: number, ops: readonly Op[]): Envelope {
    const { ts, lc } = this.clock.next();
    const body: DeltaBody = { v: 1, author: this.key.id, seq, channel, ts, lc, ops: [...ops] };
    const text = JSON.stringify(body);
    const sig = encodeBase64Url(this.key.sign(signedMessage(utf8Encode(text))));
    return { body: text, sig };
  }
}
