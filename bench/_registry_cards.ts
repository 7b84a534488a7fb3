/**
 * Realistic agent cards for bench/registry.ts, from a seeded RNG: ~200 skill ids, ~500 tags drawn
 * with a Zipf-like spread (a few tags on many cards, most on few), names and descriptions from a
 * word list. Each card gets its own author, whose key is derived from a counter (cheap, and the
 * same run makes the same keys), signed with WebCrypto Ed25519.
 */
import { Rng } from "../test/support/seeded_rng.ts";
import type { AgentCard } from "../src/protocol/agent_card.ts";
import { REGISTRY_CHANNEL } from "../src/protocol/agent_card.ts";
import { encodeBase64Url } from "../src/protocol/base64url.ts";
import { signedMessage } from "../src/protocol/delta.ts";
import { PKCS8_SEED_PREFIX } from "../src/crypto/ed25519_sign.ts";
import { utf8Encode } from "../src/protocol/utf8.ts";
import type { Envelope } from "../src/client/mesh_client.ts";

/** Distinct skill ids the cards draw from. */
export const BENCH_SKILLS = 200;
/** Distinct tags the cards draw from. */
export const BENCH_TAGS = 500;
/** Exponent of the tags' Zipf-like law (rank k drawn with weight 1/k^s). */
export const BENCH_TAG_ZIPF_S = 1.0;

export const WORDS = (
  "analyse answer archive audit balance batch billing build cache calendar caption chart chat " +
  "check classify clean code compile compose compress contract convert crawl customer data " +
  "debug deploy design detect diagram diff document draft email embed enrich estimate events " +
  "extract face fetch file finance forecast format fraud generate geocode grade graph health " +
  "image index invoice label language learn legal letter ledger lint log map market math media " +
  "medical merge metric model monitor music negotiate news notes ocr optimise order page parse " +
  "payment pdf photo plan policy predict price profile proof query rank read recipe record " +
  "report research resume review risk route sales scan schedule schema score search security " +
  "sentiment shipping sign sketch sort speech spell sql stock story summarise support survey " +
  "table task tax test text ticket timeline track trade transcribe translate travel trend tune " +
  "tutor upload validate vector video voice weather web website write agent assistant helper " +
  "quick precise friendly robust secure private local cloud fast careful expert senior junior " +
  "multilingual open small large streaming batch realtime offline creative formal casual"
).split(/\s+/).filter((w, i, all) => all.indexOf(w) === i);

const NAME_SUFFIXES = ["Agent", "Bot", "Assistant", "Worker", "Service", "Pilot", "Crew", "Desk"];
const BINDINGS = ["JSONRPC", "GRPC", "HTTP+JSON"];
const MODES = ["text/plain", "application/json", "image/png", "audio/wav", "application/pdf"];
const REGIONS = ["eu-1", "eu-2", "us-1", "us-2", "ap-1"];

/** The bench's skill ids (`<word>-<word>`, 200 of them) and tags (`<word>`, then `<word>-<n>`). */
export const SKILL_IDS: string[] = Array.from(
  { length: BENCH_SKILLS },
  (_, i) => `${WORDS[i % 100]}-${WORDS[100 + Math.floor(i / 100)]}`,
);
export const TAGS: string[] = Array.from(
  { length: BENCH_TAGS },
  (_, i) =>
    i < WORDS.length ? WORDS[i] : `${WORDS[i % WORDS.length]}-${Math.floor(i / WORDS.length)}`,
);
if (new Set(SKILL_IDS).size !== BENCH_SKILLS || new Set(TAGS).size !== BENCH_TAGS) {
  throw new Error("bench skill ids and tags must be distinct");
}

/** Cumulative Zipf weights over tag ranks, for `zipfTag`. */
const ZIPF_CDF: number[] = (() => {
  const weights = TAGS.map((_, k) => 1 / (k + 1) ** BENCH_TAG_ZIPF_S);
  const total = weights.reduce((a, b) => a + b, 0);
  let sum = 0;
  return weights.map((w) => (sum += w / total));
})();

/** A tag drawn with the Zipf-like law: rank 1 most often. */
export function zipfTag(rng: Rng): string {
  const u = rng.next();
  let lo = 0, hi = ZIPF_CDF.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ZIPF_CDF[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return TAGS[lo];
}

function words(rng: Rng, min: number, max: number): string {
  return Array.from({ length: rng.between(min, max) }, () => rng.pick(WORDS)).join(" ");
}

/** Card number `n` of the run seeded `seed`: 1–4 skills, 1–4 tags each, a few sentences. */
export function benchCard(seed: number, n: number): AgentCard {
  const rng = new Rng(seed * 1_000_003 + n);
  const skills = new Map<string, AgentCard["skills"][number]>();
  const count = rng.between(1, 4);
  while (skills.size < count) {
    const id = rng.pick(SKILL_IDS);
    const tags = [...new Set(Array.from({ length: rng.between(1, 4) }, () => zipfTag(rng)))];
    skills.set(id, {
      id,
      name: id.replace("-", " "),
      description: words(rng, 6, 16),
      tags,
      examples: [words(rng, 4, 10)],
    });
  }
  const name = `${rng.pick(WORDS)} ${rng.pick(WORDS)} ${rng.pick(NAME_SUFFIXES)} ${n}`;
  return {
    name: name[0].toUpperCase() + name.slice(1),
    description: words(rng, 10, 30),
    version: `${rng.between(0, 3)}.${rng.between(0, 20)}.${rng.between(0, 9)}`,
    provider: { organization: `${rng.pick(WORDS)} labs`, url: `https://org${n % 997}.example` },
    supportedInterfaces: [{
      url: `https://agent${n}.example/a2a`,
      protocolBinding: rng.pick(BINDINGS),
      protocolVersion: "1.0",
    }],
    capabilities: { streaming: rng.chance(0.5) },
    defaultInputModes: [rng.pick(MODES)],
    defaultOutputModes: [rng.pick(MODES)],
    skills: [...skills.values()],
    mesh: {
      resources: { cpu: rng.between(1, 16), memoryMb: 1024 * rng.between(1, 64) },
      homeRegions: [rng.pick(REGIONS)],
    },
  };
}

/** PKCS #8 prefix of a raw 32-byte Ed25519 seed (RFC 8410). */
const PKCS8_PREFIX = Uint8Array.from(PKCS8_SEED_PREFIX);

/** A WebCrypto signing key from a raw 32-byte Ed25519 seed (shared by the benches). */
export function importEd25519Seed(seed: Uint8Array): Promise<CryptoKey> {
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + 32);
  pkcs8.set(PKCS8_PREFIX);
  pkcs8.set(seed, PKCS8_PREFIX.length);
  return crypto.subtle.importKey("pkcs8", pkcs8, "Ed25519", true, ["sign"]);
}

/** The key of author number `n` of run `seed`: its secret seed is the counter, not random. */
export async function benchKey(seed: number, n: number): Promise<{ id: string; key: CryptoKey }> {
  const secret = new Uint8Array(32);
  const view = new DataView(secret.buffer);
  view.setUint32(0, seed);
  view.setFloat64(8, n);
  view.setUint32(24, 0x6d657368); // "mesh": no seed is all zeros
  const key = await importEd25519Seed(secret);
  const { x } = await crypto.subtle.exportKey("jwk", key);
  return { id: x!, key };
}

/** The signed announce (seq 1 in `_registry`) of card `n` by its own author. */
export async function signedCard(seed: number, n: number, ts: number): Promise<Envelope> {
  const { id, key } = await benchKey(seed, n);
  const body = JSON.stringify({
    v: 1,
    author: id,
    seq: 1,
    channel: REGISTRY_CHANNEL,
    ts,
    lc: 0,
    ops: [{ op: "set", key: id, value: benchCard(seed, n) }],
  });
  const sig = await crypto.subtle.sign("Ed25519", key, signedMessage(utf8Encode(body)));
  return { body, sig: encodeBase64Url(new Uint8Array(sig)) };
}
