/**
 * Micro-benchmarks of the ingest hot path, per 100-delta push, for `deno task bench`. The group
 * compares each step with bare WebCrypto verification (the baseline) in the same process.
 */
import { ChannelState } from "../src/crdt/channel_state.ts";
import { verifyEd25519 } from "../src/crypto/mod.ts";
import { decodeBase64Url } from "../src/protocol/base64url.ts";
import { signedMessage } from "../src/protocol/delta.ts";
import { parseEnvelope } from "../src/protocol/envelope.ts";
import { utf8Encode } from "../src/protocol/utf8.ts";
import { benchAuthors, signedEnvelopes } from "./_signed_batches.ts";

const authors = await benchAuthors(100);
const envelopes = await signedEnvelopes(authors, "bench", 100);
const now = Date.now();
const parsed = envelopes.map((e) => parseEnvelope(e, now)).filter((p) => p.ok);
const keys = new Map<string, CryptoKey>();
for (const a of authors) {
  keys.set(
    a.id,
    await crypto.subtle.importKey("raw", decodeBase64Url(a.id)!, "Ed25519", false, ["verify"]),
  );
}
const bare = envelopes.map((e) => ({
  key: keys.get(JSON.parse(e.body).author)!,
  sig: decodeBase64Url(e.sig)!,
  msg: signedMessage(utf8Encode(e.body)),
}));

Deno.bench("bare WebCrypto verify ×100", { group: "push of 100", baseline: true }, async () => {
  await Promise.all(bare.map((x) => crypto.subtle.verify("Ed25519", x.key, x.sig, x.msg)));
});

Deno.bench("verifyEd25519 ×100 (checks + key cache)", { group: "push of 100" }, async () => {
  await Promise.all(parsed.map((p) => verifyEd25519(p.publicKey, p.signature, p.message)));
});

Deno.bench("parseEnvelope ×100 (JSON, schema, id)", { group: "push of 100" }, () => {
  for (const e of envelopes) parseEnvelope(e, now);
});

Deno.bench("ChannelState.apply ×100 + viewText", { group: "push of 100" }, () => {
  const state = new ChannelState("bench");
  for (const p of parsed) state.apply(p.delta);
  state.viewText();
});
