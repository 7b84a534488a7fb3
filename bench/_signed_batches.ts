/**
 * Fast fixture generation for benchmarks: WebCrypto Ed25519 keys and signatures (much faster than
 * pure-JS signing), producing envelopes exactly as agents send them.
 */
import { encodeBase64Url } from "../src/protocol/base64url.ts";
import { type Op, signedMessage } from "../src/protocol/delta.ts";
import { utf8Encode } from "../src/protocol/utf8.ts";
import type { Envelope } from "../src/client/mesh_client.ts";

export interface BenchAuthor {
  readonly id: string;
  readonly privateKey: CryptoKey;
  seq: number;
}

export async function benchAuthors(n: number): Promise<BenchAuthor[]> {
  return await Promise.all(Array.from({ length: n }, async () => {
    const pair = await crypto.subtle.generateKey("Ed25519", true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    return { id: encodeBase64Url(raw), privateKey: pair.privateKey, seq: 0 };
  }));
}

/** A typical small delta: a map write, a set add and a counter increment. */
export function typicalOps(i: number): Op[] {
  return [
    { op: "set", key: `agent.status.${i % 50}`, value: { state: "working", step: i, load: 0.42 } },
    { op: "add", set: "online", elem: `worker-${i % 200}` },
    { op: "inc", counter: "tasks.done", by: 1 },
  ];
}

/** Signs the next delta of `author` in `channel`. */
export async function signNext(
  author: BenchAuthor,
  channel: string,
  ops: Op[],
  ts = Date.now(),
): Promise<Envelope> {
  author.seq++;
  const body = JSON.stringify({
    v: 1,
    author: author.id,
    seq: author.seq,
    channel,
    ts,
    lc: 0,
    ops,
  });
  const sig = await crypto.subtle.sign(
    "Ed25519",
    author.privateKey,
    signedMessage(utf8Encode(body)),
  );
  return { body, sig: encodeBase64Url(new Uint8Array(sig)) };
}

/** `count` envelopes round-robin over `authors`, all in `channel`. */
export async function signedEnvelopes(
  authors: BenchAuthor[],
  channel: string,
  count: number,
): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for (let i = 0; i < count; i++) {
    out.push(await signNext(authors[i % authors.length], channel, typicalOps(i)));
  }
  return out;
}
