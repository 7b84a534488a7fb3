/**
 * The signed deltas of a run, made before it starts: one ed25519 key per agent (seeded, so ids and
 * signatures are the same on every run of a seed), each planned write a real wire-format body
 * signed under `mesh.delta.v1:`, then every envelope parsed with the real `parseEnvelope` and its
 * signature checked with the real `verifyEd25519` (one in `verifyEvery`; forgeries and
 * equivocations always). A region's verdict on an envelope is a function of its bytes alone, so
 * each distinct envelope is checked once here and every region's ingest uses that verdict; the
 * regions' cost of checking is charged as ingest time (see sim_region.ts).
 *
 * Signing uses WebCrypto (Ed25519 is deterministic: the same signature `AgentKey.sign` makes, which
 * `build` checks on the first agent) because it is ~10× faster here than the pure-JS signer.
 */
import { signEd25519 } from "../../src/crypto/ed25519_sign.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { decodeBase64Url, encodeBase64Url } from "../../src/protocol/base64url.ts";
import { signedMessage } from "../../src/protocol/delta.ts";
import { parseEnvelope } from "../../src/protocol/envelope.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";
import type { Rng } from "../../test/support/seeded_rng.ts";
import { T0_MS } from "../../test/support/signing.ts";
import type { WritePlan } from "./write_plan.ts";
import { importEd25519Seed } from "../_registry_cards.ts";

/** How many keys or envelopes are in flight at once through WebCrypto. */
const CRYPTO_CHUNK = 2_048;
export interface PoolStats {
  keysMs: number;
  signMs: number;
  parseMs: number;
  verifyMs: number;
  /** Envelopes whose signature the real verifier checked, and how many of those failed. */
  verified: number;
  rejected: number;
}

export class DeltaPool {
  readonly count: number;
  readonly body: string[];
  readonly sig: string[];
  /** 32 bytes per delta: sha256 of the body (the delta id). */
  readonly ids: Uint8Array;
  /** Bytes of `{"body":…,"sig":…}` as JSON (what the envelope costs inside a message). */
  readonly wire: Uint32Array;
  /** 1 when the envelope parses and its signature verifies. */
  readonly valid: Uint8Array;
  /** Per delta, its (author, channel, seq) slot: two deltas in one slot are an equivocation. */
  readonly slot: Int32Array;
  slots = 0;
  readonly stats: PoolStats = {
    keysMs: 0,
    signMs: 0,
    parseMs: 0,
    verifyMs: 0,
    verified: 0,
    rejected: 0,
  };

  private constructor(readonly plan: WritePlan, readonly channelNames: string[]) {
    this.count = plan.count;
    this.body = new Array(plan.count);
    this.sig = new Array(plan.count);
    this.ids = new Uint8Array(plan.count * 32);
    this.wire = new Uint32Array(plan.count);
    this.valid = new Uint8Array(plan.count);
    this.slot = new Int32Array(plan.count);
  }

  /** The id of delta `d` (a view into `ids`). */
  id(d: number): Uint8Array {
    return this.ids.subarray(d * 32, d * 32 + 32);
  }

  static async build(plan: WritePlan, rng: Rng, verifyEvery: number): Promise<DeltaPool> {
    const names = Array.from({ length: plan.channels }, (_, i) => `room-${i}`);
    const pool = new DeltaPool(plan, names);
    const agents = plan.home.length;
    const secrets = new Uint8Array(agents * 32);
    for (let i = 0; i < secrets.length; i += 4) {
      new DataView(secrets.buffer).setUint32(i, Math.floor(rng.next() * 2 ** 32));
    }
    const publicKeys = await pool.#sign(secrets);
    pool.#checkSigner(secrets, publicKeys);
    await pool.#parseAndVerify(verifyEvery);
    return pool;
  }

  /** Derives every agent's public key and signs each planned body with its signer's key. */
  async #sign(secrets: Uint8Array): Promise<string[]> {
    const plan = this.plan;
    const agents = plan.home.length;
    const bySigner = groupBy(plan.signer, agents);
    const publicKeys = new Array<string>(agents);
    const forgeries: number[] = [];
    for (let from = 0; from < agents; from += CRYPTO_CHUNK) {
      const to = Math.min(agents, from + CRYPTO_CHUNK);
      let started = performance.now();
      const keys = await Promise.all(
        range(from, to).map((a) => importEd25519Seed(secrets.subarray(a * 32, a * 32 + 32))),
      );
      const jwks = await Promise.all(keys.map((k) => crypto.subtle.exportKey("jwk", k)));
      jwks.forEach((jwk, i) => publicKeys[from + i] = jwk.x!);
      this.stats.keysMs += performance.now() - started;
      started = performance.now();
      const signing: Promise<void>[] = [];
      for (let a = from; a < to; a++) {
        for (let k = bySigner.start[a]; k < bySigner.start[a + 1]; k++) {
          const d = bySigner.items[k];
          if (plan.author[d] !== a) forgeries.push(d);
          else signing.push(this.#signOne(d, keys[a - from], publicKeys[a]));
        }
      }
      await Promise.all(signing);
      this.stats.signMs += performance.now() - started;
    }
    const started = performance.now();
    for (const d of forgeries) {
      const s = plan.signer[d];
      const key = await importEd25519Seed(secrets.subarray(s * 32, s * 32 + 32));
      await this.#signOne(d, key, publicKeys[plan.author[d]]);
    }
    this.stats.signMs += performance.now() - started;
    return publicKeys;
  }

  async #signOne(d: number, key: CryptoKey, author: string): Promise<void> {
    const plan = this.plan;
    const agent = plan.author[d], seq = plan.seq[d];
    const value = plan.variant[d] === 0 ? seq : plan.variant[d] === 1 ? "one" : "two";
    const body = JSON.stringify({
      v: 1,
      author,
      seq,
      channel: this.channelNames[plan.channel[d]],
      ts: T0_MS + Math.floor(plan.atMs[d]),
      lc: 0,
      ops: [
        { op: "set", key: `a${agent}`, value },
        { op: "inc", counter: "writes", by: 1 },
        { op: "add", set: "agents", elem: `a${agent}` },
      ],
    });
    const message = signedMessage(utf8Encode(body));
    const sig = encodeBase64Url(new Uint8Array(await crypto.subtle.sign("Ed25519", key, message)));
    this.body[d] = body;
    this.sig[d] = sig;
    this.wire[d] = JSON.stringify({ body, sig }).length;
  }

  /** The WebCrypto signatures are the ones the project's own signer makes. */
  #checkSigner(secrets: Uint8Array, publicKeys: string[]): void {
    let d = 0;
    while (this.plan.signer[d] !== this.plan.author[d]) d++;
    const a = this.plan.signer[d];
    const expected = encodeBase64Url(
      signEd25519(secrets.subarray(a * 32, a * 32 + 32), signedMessage(utf8Encode(this.body[d]))),
    );
    if (expected !== this.sig[d] || !this.body[d].includes(publicKeys[a])) {
      throw new Error("WebCrypto's Ed25519 signature differs from signEd25519's");
    }
  }

  /** Parses every envelope (real `parseEnvelope`) and verifies the sampled signatures. */
  async #parseAndVerify(verifyEvery: number): Promise<void> {
    const plan = this.plan;
    const slots = new Map<string, number>();
    for (let from = 0; from < this.count; from += CRYPTO_CHUNK) {
      const to = Math.min(this.count, from + CRYPTO_CHUNK);
      let started = performance.now();
      const checks: Promise<void>[] = [];
      for (let d = from; d < to; d++) {
        const parsed = parseEnvelope(
          { body: this.body[d], sig: this.sig[d] },
          T0_MS + plan.atMs[d],
        );
        if (!parsed.ok) throw new Error(`planned delta ${d} does not parse: ${parsed.detail}`);
        const { author, channel, seq, id } = parsed.delta;
        this.ids.set(decodeBase64Url(id)!, d * 32);
        const key = `${channel}\u0000${seq}\u0000${author}`;
        let slot = slots.get(key);
        if (slot === undefined) slots.set(key, slot = slots.size);
        this.slot[d] = slot;
        const always = plan.signer[d] !== plan.author[d] || plan.variant[d] !== 0;
        if (!always && d % verifyEvery !== 0) {
          this.valid[d] = 1; // signed above with the author's own key
          continue;
        }
        checks.push(this.#verify(d, parsed.publicKey, parsed.signature, parsed.message));
      }
      this.stats.parseMs += performance.now() - started;
      started = performance.now();
      await Promise.all(checks);
      this.stats.verifyMs += performance.now() - started;
    }
    this.slots = slots.size;
  }

  async #verify(d: number, key: Uint8Array, signature: Uint8Array, message: Uint8Array) {
    const ok = await verifyEd25519(key, signature, message);
    this.stats.verified++;
    if (!ok) this.stats.rejected++;
    this.valid[d] = ok ? 1 : 0;
    const forged = this.plan.signer[d] !== this.plan.author[d];
    if (ok === forged) throw new Error(`delta ${d}: verifier said ${ok}, forged ${forged}`);
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/** Items 0..n-1 of `keys` grouped by key (CSR: `items[start[k]..start[k+1])`). */
function groupBy(keys: Int32Array, groups: number) {
  const start = new Int32Array(groups + 1);
  for (const k of keys) start[k + 1]++;
  for (let g = 0; g < groups; g++) start[g + 1] += start[g];
  const fill = start.slice(0, groups);
  const items = new Int32Array(keys.length);
  keys.forEach((k, i) => items[fill[k]++] = i);
  return { start, items };
}
