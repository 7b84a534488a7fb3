#!/usr/bin/env node
// Independent mesh v1 client, written from docs/protocol.md ONLY (no code from src/ was read).
// Plain Node.js >= 20, no npm packages.
//
// Usage: node test/interop/node_client.mjs <regionUrl>
//
// It makes keys, signs and pushes deltas, exercises every reject reason it can provoke, tails the
// channels, verifies each envelope locally (checks 1-6 and 8 of §7 plus the §6 signature rule),
// folds the delta set itself (§9), renders the canonical view (§10) and the fingerprint (§11), and
// compares the result byte-for-byte with what the region serves (§14).
//
// Output: one JSON summary line on stdout, `{"ok":true,...}` (exit 0) or `{"ok":false,...}` (exit
// 1) with the failures listed (and detailed on stderr).

import crypto from "node:crypto";
import process from "node:process";
import { Buffer } from "node:buffer";

// ---------------------------------------------------------------------------------------------
// Constants (§2, §3, §5)

const INTEGER_MAX = 9007199254740991;
const HLC_COUNTER_MAX = 4294967295;
const DELTA_BODY_BYTES_MAX = 16384;
const DELTA_OPS_MAX = 64;
const KEY_BYTES_MAX = 256;
const ELEMENT_BYTES_MAX = 1024;
const RMV_TAGS_MAX = 256;
const VALUE_DEPTH_MAX = 16;
const CLOCK_SKEW_FUTURE_MS_MAX = 60000;
const PUSH_DELTAS_MAX = 256;
const TAIL_PAGE = 4; // deliberately small, to exercise paging
const DELTA_SIGNATURE_TAG = Buffer.from("mesh.delta.v1:", "utf8");
const ID_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
const TAG_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]:(0|[1-9][0-9]?)$/;
const CHANNEL_PATTERN = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,64}$/; // not . or .. (§2)
const EMPTY_FINGERPRINT = "f5yeMayCVsovJYWD3yYtvA";
// §4.4: a lone surrogate reached through a \udxxx escape is rejected (bad_schema) in keys, names,
// elements and values. The scenario asserts what the document says.
const LONE_SURROGATES_ACCEPTED = false;
// PKCS#8 / SPKI DER prefixes for raw Ed25519 keys (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

// ---------------------------------------------------------------------------------------------
// Failure bookkeeping

const failures = [];
const observations = [];
let checks = 0;

function check(cond, label, details) {
  checks++;
  if (!cond) failures.push(details === undefined ? { label } : { label, details });
  return !!cond;
}
/** Comparable text of a value: canonical JSON (sorted members), bigints as `123n`. */
function show(x) {
  if (x === undefined) return "undefined";
  if (typeof x === "bigint") return x.toString() + "n";
  if (Buffer.isBuffer(x)) return "hex:" + x.toString("hex");
  try {
    return canon(x);
  } catch {
    return String(x);
  }
}
function eq(actual, expected, label) {
  const a = show(actual), e = show(expected);
  return check(a === e, label, { actual: a, expected: e });
}
function observe(what, value) {
  observations.push({ what, value });
}

// ---------------------------------------------------------------------------------------------
// base64url (§1): no padding, strict decoding

function b64u(bytes) {
  return Buffer.from(bytes).toString("base64url");
}
function b64uDecodeStrict(s) {
  if (typeof s !== "string" || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return null;
  const buf = Buffer.from(s, "base64url");
  // Re-encoding must give the same text: rejects non-zero unused trailing bits.
  if (buf.toString("base64url") !== s) return null;
  return buf;
}

const sha256 = (b) => crypto.createHash("sha256").update(b).digest();
const sha512 = (b) => crypto.createHash("sha512").update(b).digest();

// ---------------------------------------------------------------------------------------------
// Pure-BigInt Ed25519 (RFC 8032) — used to implement the exact §6 acceptance rule, which
// node:crypto (OpenSSL) alone does not (it accepts small-order public keys, see selfChecks()).

const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const MASK255 = (1n << 255n) - 1n;
const mod = (a, m = P) => {
  const r = a % m;
  return r >= 0n ? r : r + m;
};
function powm(b, e, m = P) {
  let r = 1n;
  b = mod(b, m);
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}
const inv = (a) => powm(a, P - 2n);
const Dc = mod(-121665n * inv(121666n));
const D2 = mod(2n * Dc);
const SQRT_M1 = powm(2n, (P - 1n) / 4n);
function leToBig(bytes) {
  let r = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) r = (r << 8n) | BigInt(bytes[i]);
  return r;
}
function bigToLe(n, len) {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}
const IDENTITY = { X: 0n, Y: 1n, Z: 1n, T: 0n };
function padd(p, q) {
  // RFC 8032 §5.1.4, complete for a = -1.
  const a = mod((p.Y - p.X) * (q.Y - q.X));
  const b = mod((p.Y + p.X) * (q.Y + q.X));
  const c = mod(p.T * D2 * q.T);
  const d = mod(p.Z * 2n * q.Z);
  const e = b - a, f = d - c, g = d + c, h = b + a;
  return { X: mod(e * f), Y: mod(g * h), Z: mod(f * g), T: mod(e * h) };
}
function pmul(s, p) {
  let r = IDENTITY, q = p;
  while (s > 0n) {
    if (s & 1n) r = padd(r, q);
    q = padd(q, q);
    s >>= 1n;
  }
  return r;
}
const pneg = (p) => ({ X: mod(-p.X), Y: p.Y, Z: p.Z, T: mod(-p.T) });
const isIdentity = (p) => mod(p.X) === 0n && mod(p.Y - p.Z) === 0n;
function pencode(p) {
  const zi = inv(p.Z);
  const x = mod(p.X * zi), y = mod(p.Y * zi);
  return bigToLe(y | ((x & 1n) << 255n), 32);
}
function pdecode(bytes) {
  // RFC 8032 §5.1.3, with the y < p check of §6 rule 1.
  if (bytes.length !== 32) return null;
  const n = leToBig(bytes);
  const sign = n >> 255n;
  const y = n & MASK255;
  if (y >= P) return null;
  const u = mod(y * y - 1n), v = mod(Dc * y * y + 1n);
  let x = mod(u * powm(v, 3n) * powm(u * powm(v, 7n), (P - 5n) / 8n));
  const vx2 = mod(v * x * x);
  if (vx2 === u) { /* ok */ }
  else if (vx2 === mod(-u)) x = mod(x * SQRT_M1);
  else return null;
  if (x === 0n && sign === 1n) return null;
  if ((x & 1n) !== sign) x = mod(-x);
  return { X: x, Y: y, Z: 1n, T: mod(x * y) };
}
const BASE = pdecode(bigToLe(mod(4n * inv(5n)), 32));

/** §6 acceptance rule, pure implementation. Returns {ok, rule} (rule = first failing rule). */
function verifyRule6(pub, sig, msg) {
  const A = pub.length === 32 ? pdecode(pub) : null;
  if (!A || isIdentity(pmul(8n, A))) return { ok: false, rule: 1 };
  if (sig.length !== 64) return { ok: false, rule: 2 };
  const S = leToBig(sig.subarray(32));
  if (S >= L) return { ok: false, rule: 2 };
  const Rb = sig.subarray(0, 32);
  if ((leToBig(Rb) & MASK255) >= P) return { ok: false, rule: 3 };
  const k = mod(leToBig(sha512(Buffer.concat([Rb, pub, msg]))), L);
  const Q = padd(pmul(S, BASE), pneg(pmul(k, A)));
  return pencode(Q).equals(Rb) ? { ok: true } : { ok: false, rule: 4 };
}

/** node:crypto verification, raw (OpenSSL). */
function verifyNodeRaw(pub, sig, msg) {
  try {
    const key = crypto.createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, pub]),
      format: "der",
      type: "spki",
    });
    return crypto.verify(null, msg, key, sig);
  } catch {
    return false;
  }
}

/** node:crypto plus the §6 rule-1/2/3 pre-checks OpenSSL does not make. */
function verifyNode6(pub, sig, msg) {
  const A = pub.length === 32 ? pdecode(pub) : null;
  if (!A || isIdentity(pmul(8n, A))) return false;
  if (sig.length !== 64 || leToBig(sig.subarray(32)) >= L) return false;
  if ((leToBig(sig.subarray(0, 32)) & MASK255) >= P) return false;
  return verifyNodeRaw(pub, sig, msg);
}

/** Both implementations must agree; a disagreement is a failure of this client. */
function verifySignature(pub, sig, msg, label) {
  const a = verifyRule6(pub, sig, msg).ok;
  const b = verifyNode6(pub, sig, msg);
  check(a === b, `signature verifiers disagree (${label})`, { pure: a, node: b });
  return a && b;
}

// ---------------------------------------------------------------------------------------------
// Keys and agents (§2, §3, §8)

function keysFromSeed(seed) {
  const privateKey = crypto.createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
  return { privateKey, publicKey: crypto.createPublicKey(privateKey) };
}
function rawPublic(publicKey) {
  return publicKey.export({ format: "der", type: "spki" }).subarray(SPKI_ED25519_PREFIX.length);
}
function rawSeed(privateKey) {
  return privateKey.export({ format: "der", type: "pkcs8" }).subarray(PKCS8_ED25519_PREFIX.length);
}
/** RFC 8032 §5.1.5 public key derivation, independently of OpenSSL. */
function derivePublic(seed) {
  const h = sha512(seed);
  const a = Buffer.from(h.subarray(0, 32));
  a[0] &= 248;
  a[31] &= 127;
  a[31] |= 64;
  return pencode(pmul(leToBig(a), BASE));
}

function signedMessage(bodyBytes) {
  return Buffer.concat([DELTA_SIGNATURE_TAG, bodyBytes]);
}
function deltaId(bodyBytes) {
  return b64u(sha256(bodyBytes));
}

class Agent {
  constructor(name, seed) {
    this.name = name;
    const keys = seed ? keysFromSeed(seed) : crypto.generateKeyPairSync("ed25519");
    this.privateKey = keys.privateKey;
    this.pub = rawPublic(keys.publicKey);
    this.seed = rawSeed(keys.privateKey);
    this.id = b64u(this.pub);
    this.seqs = new Map(); // channel -> last signed seq (§8.1: recorded before sending)
    this.ts = 0;
    this.lc = 0;
    this.replica = new Map(); // channel -> Map(id -> {body, text})
    this.cursors = new Map(); // channel -> tail cursor (region-local)
  }
  /** §8.2 */
  tick() {
    const wall = Date.now();
    if (wall > this.ts) {
      this.ts = wall;
      this.lc = 0;
    } else if (this.lc < HLC_COUNTER_MAX) this.lc++;
    else {
      this.ts++;
      this.lc = 0;
    }
    return { ts: this.ts, lc: this.lc };
  }
  /** §8.2, optional part: adopt a larger stamp seen from another author. */
  observeStamp(ts, lc) {
    if (ts > this.ts || (ts === this.ts && lc > this.lc)) {
      this.ts = ts;
      this.lc = lc;
    }
  }
  nextSeq(channel) {
    return (this.seqs.get(channel) ?? 0) + 1;
  }
  /** Builds the body object in the reference member order (§3 step 1). */
  body(channel, ops, opts = {}) {
    const seq = opts.seq ?? this.nextSeq(channel);
    const stamp = opts.ts !== undefined ? { ts: opts.ts, lc: opts.lc ?? 0 } : this.tick();
    return { v: 1, author: this.id, seq, channel, ts: stamp.ts, lc: stamp.lc, ops };
  }
  /**
   * Signs a delta. opts.text(body) may produce a hand-written body text; opts.record === false
   * for deliberately bad deltas that must not enter seq bookkeeping or the local replica.
   */
  sign(channel, ops, opts = {}) {
    const body = this.body(channel, ops, opts);
    const text = opts.text ? opts.text(body) : JSON.stringify(body);
    const d = this.signText(text);
    if (opts.record !== false) {
      if (body.seq > (this.seqs.get(channel) ?? 0)) this.seqs.set(channel, body.seq);
      this.remember(channel, d.id, JSON.parse(text), text);
    }
    return { ...d, body: JSON.parse(text) };
  }
  signText(text) {
    const bytes = Buffer.from(text, "utf8");
    if (bytes.length > DELTA_BODY_BYTES_MAX) throw new Error("body too large");
    const sig = crypto.sign(null, signedMessage(bytes), this.privateKey);
    return { id: deltaId(bytes), text, envelope: { body: text, sig: b64u(sig) } };
  }
  remember(channel, id, body, text) {
    if (!this.replica.has(channel)) this.replica.set(channel, new Map());
    this.replica.get(channel).set(id, { body, text });
  }
  /** Live add tags of elem in set, from this agent's own local replica (§9.2). */
  liveTags(channel, set, elem) {
    const st = foldState(this.replica.get(channel) ?? new Map());
    return st.liveTags(set, elem);
  }
  /** Tail the channel into the local replica and adopt newer stamps (§8.2, §12.3). */
  async sync(region, channel) {
    const { envelopes, cursor } = await region.tailAll(channel, this.cursors.get(channel) ?? "0");
    this.cursors.set(channel, cursor);
    for (const env of envelopes) {
      const bytes = Buffer.from(env.body, "utf8");
      const body = JSON.parse(env.body);
      this.remember(channel, deltaId(bytes), body, env.body);
      if (body.author !== this.id) this.observeStamp(body.ts, body.lc);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Validation of a delta (§4, §7 checks 1-6 and 8)

function hasLoneSurrogate(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const n = s.charCodeAt(i + 1);
      if (i + 1 < s.length && n >= 0xdc00 && n <= 0xdfff) i++;
      else return true;
    } else if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}
/** UTF-8 length; a lone surrogate counts as 3 bytes (§4.4). */
function utf8Len(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (i + 1 < s.length && d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
const isObj = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
const isInt = (x, lo, hi) => typeof x === "number" && Number.isInteger(x) && x >= lo && x <= hi;
function exactKeys(o, keys) {
  const ks = Object.keys(o);
  return ks.length === keys.length && keys.every((k) => Object.prototype.hasOwnProperty.call(o, k));
}
function valueDepth(v) {
  // scalar 0, container 1 + deepest child; returns -1 on a non-finite number
  if (typeof v === "number") return Number.isFinite(v) ? 0 : -1;
  if (v === null || typeof v !== "object") return 0;
  let d = 0;
  for (const c of Array.isArray(v) ? v : Object.values(v)) {
    const cd = valueDepth(c);
    if (cd < 0) return -1;
    d = Math.max(d, cd);
  }
  return d + 1;
}
const isName = (s) => typeof s === "string" && s.length >= 1 && utf8Len(s) <= KEY_BYTES_MAX;
const isElem = (s) => typeof s === "string" && s.length >= 1 && utf8Len(s) <= ELEMENT_BYTES_MAX;

/** §4 schema. Returns null when valid, else a short path: message. */
function schemaError(b) {
  if (!isObj(b)) return "body: not an object";
  if (!exactKeys(b, ["v", "author", "seq", "channel", "ts", "lc", "ops"])) return "body: members";
  if (b.v !== 1) return "v";
  if (typeof b.author !== "string" || !ID_PATTERN.test(b.author)) return "author";
  if (!isInt(b.seq, 1, INTEGER_MAX)) return "seq";
  if (typeof b.channel !== "string" || !CHANNEL_PATTERN.test(b.channel)) return "channel";
  if (!isInt(b.ts, 0, INTEGER_MAX)) return "ts";
  if (!isInt(b.lc, 0, HLC_COUNTER_MAX)) return "lc";
  if (!Array.isArray(b.ops) || b.ops.length < 1 || b.ops.length > DELTA_OPS_MAX) return "ops";
  for (let i = 0; i < b.ops.length; i++) {
    const op = b.ops[i];
    const at = `ops.${i}`;
    if (!isObj(op)) return at;
    switch (op.op) {
      case "set":
        if (!exactKeys(op, ["op", "key", "value"]) || !isName(op.key)) return at;
        if (valueDepth(op.value) < 0 || valueDepth(op.value) > VALUE_DEPTH_MAX) {
          return at + ".value";
        }
        break;
      case "del":
        if (!exactKeys(op, ["op", "key"]) || !isName(op.key)) return at;
        break;
      case "add":
        if (!exactKeys(op, ["op", "set", "elem"]) || !isName(op.set) || !isElem(op.elem)) return at;
        break;
      case "rmv":
        if (!exactKeys(op, ["op", "set", "elem", "tags"]) || !isName(op.set) || !isElem(op.elem)) {
          return at;
        }
        if (!Array.isArray(op.tags) || op.tags.length < 1 || op.tags.length > RMV_TAGS_MAX) {
          return at + ".tags";
        }
        if (!op.tags.every((t) => typeof t === "string" && TAG_PATTERN.test(t))) {
          return at + ".tags";
        }
        break;
      case "inc":
        if (!exactKeys(op, ["op", "counter", "by"]) || !isName(op.counter)) return at;
        if (!isInt(op.by, -INTEGER_MAX, INTEGER_MAX)) return at + ".by";
        break;
      default:
        return at + ".op";
    }
  }
  return null;
}

/**
 * §14 step 2 for one tailed envelope: checks 1-6, 8, signature (§6), channel. Returns
 * {id, body} or {error}.
 */
function verifyEnvelope(env, channel) {
  if (!isObj(env) || !exactKeys(env, ["body", "sig"])) return { error: "bad_envelope" };
  if (typeof env.body !== "string" || typeof env.sig !== "string") return { error: "bad_envelope" };
  if (hasLoneSurrogate(env.body)) return { error: "bad_encoding" };
  const bytes = Buffer.from(env.body, "utf8");
  if (bytes.length > DELTA_BODY_BYTES_MAX) return { error: "body_too_large" };
  const id = deltaId(bytes);
  const sig = b64uDecodeStrict(env.sig);
  if (!sig || sig.length !== 64) return { id, error: "bad_signature(length)" };
  let body;
  try {
    body = JSON.parse(env.body);
  } catch {
    return { id, error: "bad_json" };
  }
  const se = schemaError(body);
  if (se) return { id, error: "bad_schema: " + se };
  if (body.channel.startsWith("_")) return { id, error: "reserved_channel" };
  const pub = b64uDecodeStrict(body.author);
  if (!pub || !verifySignature(pub, sig, signedMessage(bytes), id)) {
    return { id, error: "bad_signature" };
  }
  if (body.channel !== channel) return { id, error: "wrong channel" };
  return { id, body };
}

// ---------------------------------------------------------------------------------------------
// The fold (§9)

function cmpStamp(a, b) {
  // (ts, lc, author, seq, op index); author compared as UTF-16 code units (§1)
  for (let i = 0; i < 5; i++) {
    if (a[i] < b[i]) return -1;
    if (a[i] > b[i]) return 1;
  }
  return 0;
}
function nested(map, k1, k2, make) {
  if (!map.has(k1)) map.set(k1, new Map());
  const m = map.get(k1);
  if (!m.has(k2)) m.set(k2, make());
  return m.get(k2);
}

/** deltas: Map(id -> {body}) — a set, distinct by id. */
function foldState(deltas) {
  const lww = new Map(); // key -> {stamp, op}
  const adds = new Map(); // set -> elem -> [tags]
  const removed = new Map(); // set -> elem -> Set(tags)
  const counters = new Map(); // name -> bigint
  const seqs = new Map(); // author -> Set(seq)
  const stampClashes = [];
  for (const [id, { body: b }] of deltas) {
    if (!seqs.has(b.author)) seqs.set(b.author, new Set());
    seqs.get(b.author).add(b.seq);
    b.ops.forEach((op, i) => {
      switch (op.op) {
        case "set":
        case "del": {
          const stamp = [b.ts, b.lc, b.author, b.seq, i];
          const cur = lww.get(op.key);
          const c = cur ? cmpStamp(stamp, cur.stamp) : 1;
          if (c === 0) stampClashes.push({ key: op.key, stamp });
          if (c > 0) lww.set(op.key, { stamp, op });
          break;
        }
        case "add":
          nested(adds, op.set, op.elem, () => []).push(`${id}:${i}`);
          break;
        case "rmv": {
          const s = nested(removed, op.set, op.elem, () => new Set());
          for (const t of op.tags) s.add(t);
          break;
        }
        case "inc":
          counters.set(op.counter, (counters.get(op.counter) ?? 0n) + BigInt(op.by));
          break;
      }
    });
  }
  function liveTags(set, elem) {
    const tags = adds.get(set)?.get(elem) ?? [];
    const dead = removed.get(set)?.get(elem) ?? new Set();
    return tags.filter((t) => !dead.has(t)).sort();
  }
  const map = new Map();
  for (const [key, { op }] of lww) if (op.op === "set") map.set(key, op.value);
  const sets = new Map();
  for (const [name, elems] of adds) {
    const live = [...elems.keys()].filter((e) => liveTags(name, e).length > 0).sort();
    if (live.length > 0) sets.set(name, live);
  }
  const heads = new Map();
  const gaps = new Map();
  for (const [author, q] of seqs) {
    let h = 0;
    while (q.has(h + 1)) h++;
    heads.set(author, h);
    const above = [...q].filter((s) => s > h).sort((x, y) => x - y);
    const g = [];
    let expected = h + 1;
    for (const s of above) {
      if (s > expected) g.push([expected, s - 1]);
      expected = s + 1;
    }
    if (g.length > 0) gaps.set(author, g);
  }
  return { map, sets, counters, heads, gaps, liveTags, stampClashes, ids: [...deltas.keys()] };
}

// ---------------------------------------------------------------------------------------------
// Canonical JSON (§10) and fingerprint (§11)

function canonString(s) {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0c) out += "\\f";
    else if (c === 0x0d) out += "\\r";
    else if (c < 0x20) out += "\\u00" + c.toString(16).padStart(2, "0");
    else if (c >= 0xd800 && c <= 0xdbff) {
      const n = s.charCodeAt(i + 1);
      if (i + 1 < s.length && n >= 0xdc00 && n <= 0xdfff) {
        out += s[i] + s[i + 1];
        i++;
      } else out += "\\u" + c.toString(16);
    } else if (c >= 0xdc00 && c <= 0xdfff) out += "\\u" + c.toString(16);
    else out += s[i];
  }
  return out + '"';
}
function canon(v) {
  if (v === null) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error("non-finite number in view");
    return String(v); // ECMAScript Number::toString; String(-0) === "0"
  }
  if (typeof v === "string") return canonString(v);
  if (Array.isArray(v)) return "[" + v.map(canon).join(",") + "]";
  if (v instanceof Map) {
    const keys = [...v.keys()].sort();
    return "{" + keys.map((k) => canonString(k) + ":" + canon(v.get(k))).join(",") + "}";
  }
  const keys = Object.keys(v).sort(); // UTF-16 code-unit order
  return "{" + keys.map((k) => canonString(k) + ":" + canon(v[k])).join(",") + "}";
}

function varint(n) {
  const out = [];
  let x = BigInt(n);
  do {
    let byte = Number(x & 0x7fn);
    x >>= 7n;
    if (x > 0n) byte |= 0x80;
    out.push(byte);
  } while (x > 0n);
  return Buffer.from(out);
}
function fingerprintParts(ids) {
  const distinct = [...new Set(ids)];
  let sum = 0n;
  for (const id of distinct) sum = (sum + leToBig(b64uDecodeStrict(id))) % 2n ** 256n;
  const sumBytes = bigToLe(sum, 32);
  const h = sha256(Buffer.concat([sumBytes, varint(distinct.length)]));
  return { sumBytes, h, fingerprint: b64u(h.subarray(0, 16)) };
}
const fingerprint = (ids) => fingerprintParts(ids).fingerprint;

/** The view document (§9.5) as canonical text. */
function renderView(channel, deltas) {
  const st = foldState(deltas);
  const view = new Map([
    ["channel", channel],
    ["counters", st.counters],
    ["deltas", deltas.size],
    ["fingerprint", fingerprint([...deltas.keys()])],
    ["gaps", st.gaps],
    ["heads", st.heads],
    ["map", st.map],
    ["sets", st.sets],
  ]);
  return { text: canon(view), state: st };
}

// ---------------------------------------------------------------------------------------------
// HTTP (§12)

class Region {
  constructor(base) {
    this.base = base.replace(/\/+$/, "");
    this.requests = 0;
  }
  async http(method, path, { body, headers } = {}) {
    this.requests++;
    const res = await fetch(this.base + path, { method, body, headers });
    const bytes = Buffer.from(await res.arrayBuffer());
    return {
      status: res.status,
      type: res.headers.get("content-type") ?? "",
      retryAfter: res.headers.get("retry-after"),
      bytes,
      text: bytes.toString("utf8"),
    };
  }
  async push(envelopes, contentType = "application/json") {
    const r = await this.http("POST", "/v1/deltas", {
      body: JSON.stringify({ deltas: envelopes }),
      headers: { "content-type": contentType },
    });
    if (r.status !== 200) throw new Error(`push answered ${r.status}: ${r.text}`);
    check(essence(r.type) === "application/json", "push 200 content-type", r.type);
    const { results } = JSON.parse(r.text);
    check(
      Array.isArray(results) && results.length === envelopes.length,
      "push: one result per envelope",
      r.text,
    );
    return results;
  }
  async pushExpect(deltas, label, contentType) {
    const results = await this.push(deltas.map((d) => d.envelope), contentType);
    results.forEach((res, i) => {
      eq(res, { id: deltas[i].id, status: "accepted" }, `${label}[${i}] accepted`);
    });
    return results;
  }
  async view(channel) {
    const r = await this.http("GET", `/v1/channels/${encodeURIComponent(channel)}`);
    check(r.status === 200, `GET view ${channel} status`, r.text);
    check(essence(r.type) === "application/json", `GET view ${channel} content-type`, r.type);
    return r;
  }
  async tailPage(channel, after, limit) {
    const q = `after=${after}` + (limit ? `&limit=${limit}` : "");
    const r = await this.http("GET", `/v1/channels/${encodeURIComponent(channel)}/deltas?${q}`);
    if (r.status !== 200) throw new Error(`tail ${channel} answered ${r.status}: ${r.text}`);
    check(essence(r.type) === "application/json", "tail content-type", r.type);
    const page = JSON.parse(r.text);
    check(
      isObj(page) && exactKeys(page, ["deltas", "cursor", "more"]) && Array.isArray(page.deltas) &&
        typeof page.cursor === "string" && typeof page.more === "boolean",
      "tail page shape",
      r.text.slice(0, 300),
    );
    return page;
  }
  /** §14 step 1: page from `after` until more is false. */
  async tailAll(channel, after = "0", limit = TAIL_PAGE) {
    const envelopes = [];
    let cursor = after;
    let pages = 0;
    for (;;) {
      const page = await this.tailPage(channel, cursor, limit);
      pages++;
      check(page.deltas.length <= limit, "tail page within limit", page.deltas.length);
      if (page.deltas.length === 0) {
        eq(page.cursor, cursor, `tail: empty page echoes after (${channel})`);
        check(page.more === false, "tail: empty page has more=false");
      } else {
        check(BigInt(page.cursor) > BigInt(cursor), "tail: cursor advances", { cursor, page });
      }
      envelopes.push(...page.deltas);
      cursor = page.cursor;
      if (!page.more) break;
      if (pages > 10000) throw new Error("tail does not terminate");
    }
    return { envelopes, cursor, pages };
  }
  async author(channel, author) {
    const r = await this.http(
      "GET",
      `/v1/channels/${encodeURIComponent(channel)}/authors/${author}`,
    );
    check(r.status === 200, "author progress status", r.text);
    return JSON.parse(r.text);
  }
}
const essence = (ct) => ct.split(";")[0].trim().toLowerCase();

function firstDiff(a, b) {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
function describeDiff(localBuf, regionBuf) {
  const i = firstDiff(localBuf, regionBuf);
  return {
    offset: i,
    localLength: localBuf.length,
    regionLength: regionBuf.length,
    local: localBuf.subarray(Math.max(0, i - 80), i + 120).toString("utf8"),
    region: regionBuf.subarray(Math.max(0, i - 80), i + 120).toString("utf8"),
  };
}

// ---------------------------------------------------------------------------------------------
// Self checks from the document alone (§1, §6, §11, §15)

const WORKED = {
  seedA: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
  seedB: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
  idA: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
  idB: "PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw",
  a1:
    '{"v":1,"author":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","seq":1,"channel":"example","ts":1767225600000,"lc":0,"ops":[{"op":"set","key":"greeting","value":"hello"},{"op":"add","set":"tags","elem":"red"},{"op":"add","set":"tags","elem":"blue"},{"op":"inc","counter":"visits","by":9007199254740991}]}',
  b1:
    '{"v":1,"author":"PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw","seq":1,"channel":"example","ts":1767225600000,"lc":0,"ops":[{"op":"set","key":"greeting","value":"hi"},{"op":"add","set":"tags","elem":"red"},{"op":"inc","counter":"visits","by":9007199254740991},{"op":"set","key":"config","value":{"z":1.5,"a":[true,null,"é"]}}]}',
  a2:
    '{"v":1,"author":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","seq":2,"channel":"example","ts":1767225601000,"lc":0,"ops":[{"op":"rmv","set":"tags","elem":"red","tags":["feRNMfnM0oBPeJ5GFeht2kHvcB7gI5-OV7eOCaY5dP0:1"]},{"op":"del","key":"nothing"},{"op":"inc","counter":"visits","by":-1}]}',
  lengths: [303, 327, 289],
  sha: [
    "7de44d31f9ccd2804f789e4615e86dda41ef701ee0239f8e57b78e09a63974fd",
    "97d9436319792a727170c6e7b5e3916a7c990c96363391247dd5ec18a16cd693",
    "dd3dbdbf42c4eaa191d673987c8f044bc17f705767bea8852bed72cb6871321c",
  ],
  ids: [
    "feRNMfnM0oBPeJ5GFeht2kHvcB7gI5-OV7eOCaY5dP0",
    "l9lDYxl5KnJxcMbnteORanyZDJY2M5EkfdXsGKFs1pM",
    "3T29v0LE6qGR1nOYfI8ES8F_cFdnvqiFK-1yy2hxMhw",
  ],
  sigA1Hex:
    "700af0d1bf345a5125f1356603b4a58f63d1d68ce9139569891447cdb28b457585dfaf5fda28ec38e46a50db83693bab42f37a01ba8af077eb75e713d3de290d",
  sigs: [
    "cArw0b80WlEl8TVmA7Slj2PR1ozpE5VpiRRHzbKLRXWF369f2ijsOORqUNuDaTurQvN6AbqK8HfrdecT094pDQ",
    "nNQdy1hFf0YD_74SN1RkKnVvU5FfAcrFJU9XU2bCZ9qgX_wlyR55d9iVlr9364LWyqyI6UvT5oh_Y7tSlvOQAw",
    "Pg3kDjaD5nZHrF3HQRgzAT3OOlm_xynBQ57Bl4u-3XWcKEdXqYn8iOwcc-e7dEadnuMgjheSm-I-oNfBUFYwBg",
  ],
  sumHex: "f1fb4e54550ae89452bfd8c6475b04907f08ee0b7e15d938007aeeedaf177dad",
  hHex: "dbf93f78f7d8144279ef15360a6fa168c800bf1065d672c6dd89f3d7623a9aa9",
  fingerprint: "2_k_ePfYFEJ57xU2Cm-haA",
  view:
    '{"channel":"example","counters":{"visits":18014398509481981},"deltas":3,"fingerprint":"2_k_ePfYFEJ57xU2Cm-haA","gaps":{},"heads":{"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo":2,"PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw":1},"map":{"config":{"a":[true,null,"é"],"z":1.5},"greeting":"hi"},"sets":{"tags":["blue","red"]}}',
};

function selfChecks() {
  // §1 base64url strictness
  eq(b64uDecodeStrict("AA"), Buffer.from([0]), "b64u decodes AA");
  check(b64uDecodeStrict("AB") === null, "b64u rejects non-zero trailing bits");
  check(b64uDecodeStrict("AA==") === null, "b64u rejects padding");
  check(b64uDecodeStrict("A") === null, "b64u rejects length 1 mod 4");
  check(b64uDecodeStrict("+/") === null, "b64u rejects + and /");
  eq(b64u(Buffer.alloc(16)).length, 22, "16 bytes -> 22 chars");
  // §11 empty set and varint examples
  eq(fingerprint([]), EMPTY_FINGERPRINT, "empty fingerprint");
  eq(b64u(sha256(Buffer.alloc(33)).subarray(0, 16)), EMPTY_FINGERPRINT, "sha256(33 zero bytes)");
  eq(varint(0).toString("hex"), "00", "varint 0");
  eq(varint(3).toString("hex"), "03", "varint 3");
  eq(varint(300).toString("hex"), "ac02", "varint 300");
  // §10 examples
  const ex = JSON.parse('{"k":"\\u00e9\\n\\u2028\\ud83d\\ude00\\u001f\\u007f/","v":"\\ud800"}');
  eq(
    canonString(ex.k) + ":" + canonString(ex.v),
    '"é\\n\u2028😀\\u001f\u007f/":"\\ud800"',
    "§10 string example",
  );
  eq(canon(["\uffff", "\ud83d\ude00", "Z", "a"].sort()), '["Z","a","😀","￿"]', "§10 sort example");
  eq(
    canon([1e21, 1e-7, 0.000001, 1.5, -0, 12345678901234567890]),
    "[1e+21,1e-7,0.000001,1.5,0,12345678901234567000]",
    "§10 numbers",
  );

  // §6 test vectors
  const probe = Buffer.from("mesh ed25519 backend probe", "utf8");
  const pkA = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
  const vectors = [
    [
      "TEST 1",
      pkA,
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
      Buffer.alloc(0),
      true,
    ],
    [
      "S + L",
      pkA,
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901554c8c7872aa064e049dbb3013fbf29380d25bf5f0595bbe24655141438e7a101b",
      Buffer.alloc(0),
      false,
    ],
    [
      "torsion-shifted R",
      pkA,
      "feaf9d07b868cc52786305312c376563c622b0386a10d105e3c1501b28d65f7ef67e2b95c9ef32c737f2ecc62962f28813184f690ea1f2c00262669f001bf805",
      probe,
      false,
    ],
    [
      "mixed-order key",
      "3b5b475c4b82dd1572799fc546f4c6c03e478c6654aa4c7f945b347ea32af60d",
      "d4b4f5784868c3020403246717ec169ff79e26608ea126a1ab69ee77d1b167126bd2c7c416757b1a2ee74d32e1bf179ff24a9e9a0dfee5be672e4ecc0104b30f",
      probe,
      true,
    ],
    ["identity key", "01" + "00".repeat(31), "01" + "00".repeat(63), probe, false],
  ];
  const nodeRaw = {};
  for (const [name, pk, sig, msg, expected] of vectors) {
    const pub = Buffer.from(pk, "hex"), s = Buffer.from(sig, "hex");
    eq(verifyRule6(pub, s, msg).ok, expected, `§6 vector ${name} (pure rule)`);
    eq(verifyNode6(pub, s, msg), expected, `§6 vector ${name} (node:crypto + prechecks)`);
    nodeRaw[name] = verifyNodeRaw(pub, s, msg) === expected ? "agrees" : "DISAGREES";
  }
  observe("node:crypto raw verify vs §6 vectors (before rule-1/2/3 pre-checks)", nodeRaw);

  // §2: public key derivation per RFC 8032 §5.1.5, independently of OpenSSL
  const rnd = new Agent("rnd");
  check(derivePublic(rnd.seed).equals(rnd.pub), "public key derivation (pure) == node:crypto");
  check(ID_PATTERN.test(rnd.id), "random agent id matches ID_PATTERN", rnd.id);

  // §15 worked example, computed locally
  const A = new Agent("A", Buffer.from(WORKED.seedA, "hex"));
  const B = new Agent("B", Buffer.from(WORKED.seedB, "hex"));
  eq(A.id, WORKED.idA, "§15 agent id A");
  eq(B.id, WORKED.idB, "§15 agent id B");
  eq(b64u(A.seed), "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A", "§15 secret b64u A");
  eq(b64u(B.seed), "TM0Imyj_ltqdtsNG7BFOD1uKMZ81q6Yk2oz27U-4pvs", "§15 secret b64u B");
  const T = 1767225600000;
  const a1 = A.sign("example", [
    { op: "set", key: "greeting", value: "hello" },
    { op: "add", set: "tags", elem: "red" },
    { op: "add", set: "tags", elem: "blue" },
    { op: "inc", counter: "visits", by: INTEGER_MAX },
  ], { ts: T, lc: 0 });
  const b1 = B.sign("example", [
    { op: "set", key: "greeting", value: "hi" },
    { op: "add", set: "tags", elem: "red" },
    { op: "inc", counter: "visits", by: INTEGER_MAX },
    { op: "set", key: "config", value: { z: 1.5, a: [true, null, "é"] } },
  ], { ts: T, lc: 0 });
  const redTags = A.liveTags("example", "tags", "red");
  eq(redTags, [WORKED.ids[0] + ":1"], "§15 A's observed red tags");
  const a2 = A.sign("example", [
    { op: "rmv", set: "tags", elem: "red", tags: redTags },
    { op: "del", key: "nothing" },
    { op: "inc", counter: "visits", by: -1 },
  ], { ts: T + 1000, lc: 0 });
  const ds = [a1, b1, a2];
  ds.forEach((d, i) => {
    eq(d.text, WORKED[["a1", "b1", "a2"][i]], `§15 body text ${i}`);
    eq(Buffer.byteLength(d.text, "utf8"), WORKED.lengths[i], `§15 body length ${i}`);
    eq(sha256(Buffer.from(d.text, "utf8")).toString("hex"), WORKED.sha[i], `§15 sha256 ${i}`);
    eq(d.id, WORKED.ids[i], `§15 id ${i}`);
    eq(d.envelope.sig, WORKED.sigs[i], `§15 sig ${i}`);
  });
  eq(
    signedMessage(Buffer.from(a1.text)).subarray(0, 31).toString("hex"),
    "6d6573682e64656c74612e76313a7b2276223a312c22617574686f72223a22",
    "§15 signed message prefix",
  );
  eq(signedMessage(Buffer.from(a1.text)).length, 317, "§15 signed message length");
  eq(b64uDecodeStrict(a1.envelope.sig).toString("hex"), WORKED.sigA1Hex, "§15 sig hex A1");
  const fp = fingerprintParts(WORKED.ids);
  eq(fp.sumBytes.toString("hex"), WORKED.sumHex, "§15 fingerprint sum");
  eq(fp.h.toString("hex"), WORKED.hHex, "§15 fingerprint hash");
  eq(fp.fingerprint, WORKED.fingerprint, "§15 fingerprint");
  const deltas = new Map(ds.map((d) => [d.id, { body: d.body }]));
  eq(renderView("example", deltas).text, WORKED.view, "§15 view (local fold)");
  return ds;
}

// ---------------------------------------------------------------------------------------------
// Helpers for deliberately odd deltas

/** A delta signed by a mixed-order key A' = [a]B + T2 (T2 = (0, -1), order 2) (§6 rule 1). */
function mixedOrderSigner() {
  const T2 = { X: 0n, Y: P - 1n, Z: 1n, T: 0n };
  const a = mod(leToBig(crypto.randomBytes(64)), L);
  const Apt = padd(pmul(a, BASE), T2);
  const pub = pencode(Apt);
  return {
    id: b64u(pub),
    pub,
    signText(text) {
      const bytes = Buffer.from(text, "utf8");
      const msg = signedMessage(bytes);
      // Need k even so that [k]T2 = identity; then [S]B - [k]A' = [r]B = R.
      for (;;) {
        const r = mod(leToBig(crypto.randomBytes(64)), L);
        const Rb = pencode(pmul(r, BASE));
        const k = mod(leToBig(sha512(Buffer.concat([Rb, pub, msg]))), L);
        if (k % 2n !== 0n) continue;
        const S = mod(r + k * a, L);
        const sig = Buffer.concat([Rb, bigToLe(S, 32)]);
        return { id: deltaId(bytes), text, envelope: { body: text, sig: b64u(sig) } };
      }
    },
  };
}

function bodyText(b) {
  return JSON.stringify({
    v: b.v ?? 1,
    author: b.author,
    seq: b.seq,
    channel: b.channel,
    ts: b.ts,
    lc: b.lc ?? 0,
    ops: b.ops,
  });
}

// ---------------------------------------------------------------------------------------------
// Scenario

const MAX = INTEGER_MAX;

async function verifyChannel(region, channel, known, expectExactIds) {
  // §14: tail everything, verify, fold, render, compare with the region's view.
  const { envelopes, cursor, pages } = await region.tailAll(channel, "0");
  const deltas = new Map();
  const slots = new Map();
  let rejectedLocally = 0;
  for (const env of envelopes) {
    const v = verifyEnvelope(env, channel);
    if (v.error) {
      rejectedLocally++;
      check(false, `tailed envelope fails local verification (${channel})`, v);
      continue;
    }
    check(!deltas.has(v.id), `tail served id ${v.id} once`);
    const slot = `${v.body.author}/${v.body.seq}`;
    check(
      !slots.has(slot) || slots.get(slot) === v.id,
      `region served two deltas for one (author, seq) ${slot}`,
    );
    slots.set(slot, v.id);
    deltas.set(v.id, { body: v.body, text: env.body });
    const mine = known.get(v.id);
    if (mine) eq(env.body, mine.text, `tail returns the signed body text as sent (${v.id})`);
    if (mine) eq(env.sig, mine.envelope.sig, `tail returns the sig as sent (${v.id})`);
  }
  if (expectExactIds) {
    const want = [...known.keys()].sort(), got = [...deltas.keys()].sort();
    eq(got, want, `tail of ${channel} holds exactly the accepted deltas`);
  }
  const local = renderView(channel, deltas);
  check(
    local.state.stampClashes.length === 0,
    "no two ops share a stamp",
    local.state.stampClashes,
  );
  const r = await region.view(channel);
  const localBuf = Buffer.from(local.text, "utf8");
  const same = localBuf.equals(r.bytes);
  check(same, `view of ${channel}: local fold == region, byte for byte`, {
    ...describeDiff(localBuf, r.bytes),
    localView: local.text,
    regionView: r.text,
  });
  const regionFp = /"fingerprint":"([A-Za-z0-9_-]*)"/.exec(r.text)?.[1];
  eq(regionFp, fingerprint([...deltas.keys()]), `fingerprint of ${channel}`);
  const regionCount = /"deltas":([0-9]+)/.exec(r.text)?.[1];
  eq(regionCount, String(deltas.size), `delta count of ${channel}`);
  return { channel, deltas: deltas.size, pages, cursor, rejectedLocally, state: local.state, same };
}

async function problem(region, label, method, path, init, status, slug) {
  const r = await region.http(method, path, init);
  eq(r.status, status, `${label}: status`);
  eq(essence(r.type), "application/problem+json", `${label}: content-type`);
  let p = {};
  try {
    p = JSON.parse(r.text);
  } catch {
    check(false, `${label}: problem body is JSON`, r.text);
  }
  eq(p.type, `urn:mesh:problem:${slug}`, `${label}: type`);
  eq(p.status, status, `${label}: status member`);
  eq(typeof p.title, "string", `${label}: title`);
  eq(typeof p.detail, "string", `${label}: detail`);
  eq(p.instance, path.split("?")[0], `${label}: instance`);
  return { r, p };
}

async function scenario(region, worked) {
  const summary = {};
  const run = crypto.randomBytes(4).toString("hex");
  const C = `interop-${run}`;
  const C2 = `interop.edge:${run}`; // '.' and ':' are legal, ':' gets percent-encoded in paths
  const knownC = new Map(), knownC2 = new Map();
  const keep = (m, ...ds) => ds.forEach((d) => m.set(d.id, d));

  // --- health (§12.5)
  const health = await region.http("GET", "/v1/health");
  eq(health.status, 200, "health status");
  const hj = JSON.parse(health.text);
  eq(hj.status, "ok", "health.status");
  check(["denokv", "upstash"].includes(hj.store), "health.store", hj);
  summary.region = hj.region;

  // --- empty and reserved channel views (§9.5, §12)
  const emptyName = `empty-${run}`;
  const ev = await region.view(emptyName);
  eq(
    ev.text,
    `{"channel":"${emptyName}","counters":{},"deltas":0,"fingerprint":"${EMPTY_FINGERPRINT}","gaps":{},"heads":{},"map":{},"sets":{}}`,
    "empty view",
  );
  const rv = await region.view("_system");
  eq(JSON.parse(rv.text).deltas, 0, "reserved channel reads as empty view");
  const et = await region.tailPage(emptyName, "0");
  eq([et.deltas.length, et.cursor, et.more], [0, "0", false], "tail of empty channel");

  // --- §15 worked example against the region
  const wres = await region.push(worked.map((d) => d.envelope));
  wres.forEach((res, i) => {
    check(
      res.id === worked[i].id && ["accepted", "duplicate"].includes(res.status),
      `§15 push result ${i}`,
      res,
    );
  });
  const wv = await region.view("example");
  if (JSON.parse(wv.text).deltas === 3) eq(wv.text, WORKED.view, "§15 view from the region");
  else observe("channel 'example' held other deltas; §15 view compared via local fold only", 0);
  const exampleKnown = new Map(worked.map((d) => [d.id, d]));

  // --- two agents
  const A = new Agent("A"), B = new Agent("B");
  const [hi, lo] = A.id > B.id ? [A, B] : [B, A]; // §1 order (ASCII: code-unit order)

  // Push 1: concurrent A1, B1
  const A1 = A.sign(C, [
    { op: "set", key: "greeting", value: "hello" },
    { op: "add", set: "tags", elem: "red" },
    { op: "add", set: "tags", elem: "blue" },
    { op: "inc", counter: "visits", by: MAX },
    { op: "add", set: "tags", elem: "green" },
    { op: "set", key: "gone", value: "soon" },
    { op: "del", key: "revived" },
  ]);
  const B1 = B.sign(C, [
    { op: "set", key: "greeting", value: "hi" },
    { op: "add", set: "tags", elem: "red" },
    { op: "add", set: "tags", elem: "green" },
    { op: "inc", counter: "visits", by: MAX },
    { op: "inc", counter: "neg", by: -MAX },
    {
      op: "set",
      key: "config",
      value: { z: 1.5, a: [true, null, "é"], B: { y: [{ k: 2, a: 1 }], x: '\u0000\t"\\' } },
    },
  ]);
  await region.pushExpect([A1, B1], "push A1,B1");
  keep(knownC, A1, B1);

  // A2: A removes the red it has seen (its replica holds only A1).
  const redSeenByA = A.liveTags(C, "tags", "red");
  eq(redSeenByA, [`${A1.id}:1`], "A's replica: red tags before sync");
  const A2 = A.sign(C, [
    { op: "rmv", set: "tags", elem: "red", tags: redSeenByA },
    { op: "inc", counter: "visits", by: -1 },
    { op: "del", key: "nothing" },
    { op: "set", key: "dup", value: 1 },
    { op: "set", key: "dup", value: 2 },
    { op: "set", key: "x", value: 1 },
    { op: "del", key: "x" },
  ]);
  await region.pushExpect([A2], "push A2", "application/json; charset=utf-8");
  keep(knownC, A2);

  // Author tie-break: both authors write "tie" with the same (ts, lc). The lower author gets the
  // larger seq and op index, so only a correct (ts, lc, author, …) order picks the higher author.
  const Tfix = Date.now() - 30000;
  const pads = [lo.sign(C, [{ op: "inc", counter: "pad", by: 1 }])];
  pads.push(lo.sign(C, [{ op: "inc", counter: "pad", by: 1 }]));
  const tieHi = hi.sign(C, [{ op: "set", key: "tie", value: `from-${hi.name}` }], {
    ts: Tfix,
    lc: 7,
  });
  const tieLo = lo.sign(C, [
    { op: "inc", counter: "zero", by: 5 },
    { op: "inc", counter: "zero", by: -5 },
    { op: "inc", counter: "zero2", by: 0 },
    { op: "set", key: "tie", value: `from-${lo.name}` },
  ], { ts: Tfix, lc: 7 });
  check(tieLo.body.seq > tieHi.body.seq, "tie: lower author has the larger seq");
  await region.pushExpect([...pads, tieLo, tieHi], "push pads+ties");
  keep(knownC, ...pads, tieLo, tieHi);

  // Remove-before-add: B signs an add, then a remove of it (tags from B's own replica); the
  // remove is pushed first, the add much later.
  const ghost = B.sign(C, [
    { op: "add", set: "tags", elem: "ghost" },
    { op: "add", set: "ghosts", elem: "boo" },
  ]);
  const ghostTags = B.liveTags(C, "tags", "ghost");
  eq(ghostTags, [`${ghost.id}:0`], "B's replica: ghost tags");
  const ghostRm = B.sign(C, [
    { op: "rmv", set: "tags", elem: "ghost", tags: ghostTags },
    // tags of another element, another set, and an unknown delta: no effect on "blue"
    {
      op: "rmv",
      set: "tags",
      elem: "blue",
      tags: [`${ghost.id}:0`, `${ghost.id}:1`, `${"A".repeat(43)}:5`],
    },
  ]);
  await region.pushExpect([ghostRm], "push ghost remove (before its add)");
  keep(knownC, ghostRm);

  // Both agents catch up (tail into their replicas; HLC adopts newer stamps).
  await A.sync(region, C);
  await B.sync(region, C);

  // A4: remove every live tag of green that A has now seen (A1's and B1's add).
  const greenSeen = A.liveTags(C, "tags", "green");
  eq(greenSeen, [`${A1.id}:4`, `${B1.id}:2`].sort(), "A's replica: green tags after sync");
  const big = ["12345678901234567890", "1e21", "1E2", "-0", "1e-7", "0.000001", "5e-324"];
  const more = ["1.7976931348623157e308", "0.1", "-1.5e-10", "100.0", "123456789012345678901234"];
  const numLits = [...big, ...more];
  const A4 = A.sign(C, [
    { op: "rmv", set: "tags", elem: "green", tags: greenSeen },
    { op: "set", key: "nums", value: numLits.map((_, i) => `#N${i}#`) },
    // §10's example key (its lone-surrogate value is exercised separately, see §4.4 below)
    { op: "set", key: "é\n\u2028\ud83d\ude00\u001f\u007f/", value: "x\u2029\u0008" },
    { op: "add", set: "uni", elem: "\uffff" },
    { op: "add", set: "uni", elem: "\ud83d\ude00" },
    { op: "add", set: "uni", elem: "Z" },
    { op: "add", set: "uni", elem: "a" },
    { op: "set", key: "__proto__", value: JSON.parse('{"__proto__":{"10":1,"9":2,"":3}}') },
  ], {
    // hand-written number literals: the view must show their binary64 values (§4.3)
    text: (b) => JSON.stringify(b).replace(/"#N(\d+)#"/g, (_, i) => numLits[Number(i)]),
  });
  check(A4.text.includes("12345678901234567890"), "A4 carries the raw literal");
  // A5: a hand-written body — other member order, whitespace, escapes, 1.0 / 1e0 integers (§1,
  // §3: no re-canonicalisation).
  const s5 = A.body(C, []);
  const A5 = A.sign(C, [], {
    seq: s5.seq,
    ts: s5.ts,
    lc: s5.lc,
    text: (b) =>
      `{\n  "ops" : [ {"value":"caf\\u00e9 \\/ \\ud83d\\ude00","key":"hand","op":"set"},\n` +
      `    {"by":1e0,"counter":"hand","op":"inc"} ],\n  "lc":${b.lc}, "ts" : ${b.ts},` +
      ` "channel":"${b.channel}",\r\n\t"seq":${b.seq}.0 , "author":"${b.author}", "v":1.0 }`,
  });
  await region.pushExpect([A4, A5], "push A4,A5");
  keep(knownC, A4, A5);

  // B after sync: its stamps now beat A1's, so its del/set win deterministically.
  const B5 = B.sign(C, [
    { op: "del", key: "gone" },
    { op: "set", key: "revived", value: "yes" },
  ]);
  const gapSeq1 = B.nextSeq(C) + 1; // skip one seq
  const Bg1 = B.sign(C, [{ op: "inc", counter: "neg", by: -MAX }], { seq: gapSeq1 });
  const gapSeq2 = B.nextSeq(C) + 2; // skip two seqs
  const Bg2 = B.sign(C, [{ op: "inc", counter: "neg", by: -MAX }], { seq: gapSeq2 });
  await region.pushExpect([Bg2, B5, Bg1], "push B5 and gapped deltas (out of order)");
  keep(knownC, B5, Bg1, Bg2);
  await region.pushExpect([ghost], "push ghost add (after its remove)");
  keep(knownC, ghost);

  // --- one push with every reject reason we can provoke (§7, §12.1 captured example)
  const seqFree = 1000;
  const forgedText = bodyText({
    author: A.id,
    seq: seqFree,
    channel: C,
    ts: Date.now(),
    ops: [{ op: "set", key: "forged", value: true }],
  });
  const forged = B.signText(forgedText); // signed with B's key, claims author A
  const flippedBase = A.signText(
    bodyText({
      author: A.id,
      seq: seqFree + 1,
      channel: C,
      ts: Date.now(),
      ops: [{ op: "inc", counter: "flip", by: 1 }],
    }),
  );
  const flippedSig = b64uDecodeStrict(flippedBase.envelope.sig);
  flippedSig[5] ^= 1;
  const flipped = { ...flippedBase, envelope: { body: flippedBase.text, sig: b64u(flippedSig) } };
  // An equivocation quarantines its author (§18), so a throwaway author E equivocates, in a channel
  // of its own: E1 is stored, then `conflict` signs another body with E1's seq.
  const E = new Agent("E");
  const CE = `${C}-eq`;
  const E1 = E.sign(CE, [{ op: "set", key: "equivocation", value: 0 }], { seq: 1, record: false });
  eq((await region.push([E1.envelope]))[0]?.status, "accepted", "E1 accepted");
  const conflict = E.sign(CE, [{ op: "set", key: "equivocation", value: 1 }], {
    seq: 1,
    record: false,
  });
  const future = A.sign(C, [{ op: "set", key: "future", value: 1 }], {
    seq: seqFree + 2,
    ts: Date.now() + 2 * CLOCK_SKEW_FUTURE_MS_MAX,
    lc: 0,
    record: false,
  });
  const identityKey = b64u(Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]));
  const smallText = bodyText({
    author: identityKey,
    seq: 1,
    channel: C,
    ts: Date.now(),
    ops: [{ op: "set", key: "small-order", value: 1 }],
  });
  const smallSig = b64u(Buffer.concat([Buffer.from([1]), Buffer.alloc(63)]));
  const smallBytes = Buffer.from(smallText, "utf8");
  observe(
    "identity-key delta (R = identity, S = 0) under plain node:crypto verify",
    verifyNodeRaw(
      b64uDecodeStrict(identityKey),
      b64uDecodeStrict(smallSig),
      signedMessage(smallBytes),
    ),
  );
  check(
    !verifyRule6(
      b64uDecodeStrict(identityKey),
      b64uDecodeStrict(smallSig),
      signedMessage(smallBytes),
    )
      .ok,
    "identity-key delta fails §6 locally",
  );
  const nonCanonBase = A.signText(
    bodyText({
      author: A.id,
      seq: seqFree + 3,
      channel: C,
      ts: Date.now(),
      ops: [{ op: "inc", counter: "noncanon", by: 1 }],
    }),
  );
  const ncSig = b64uDecodeStrict(nonCanonBase.envelope.sig);
  const ncS = leToBig(ncSig.subarray(32)) + L;
  check(ncS < 2n ** 256n, "S + L fits 32 bytes");
  const nonCanon = {
    ...nonCanonBase,
    envelope: {
      body: nonCanonBase.text,
      sig: b64u(Buffer.concat([ncSig.subarray(0, 32), bigToLe(ncS, 32)])),
    },
  };
  const reserved = A.signText(
    bodyText({
      author: A.id,
      seq: 1,
      channel: "_system",
      ts: Date.now(),
      ops: [{ op: "set", key: "k", value: 1 }],
    }),
  );
  const badJson = A.signText("{not json");
  const badSchema = A.signText(
    bodyText({
      v: 2,
      author: A.id,
      seq: seqFree + 4,
      channel: C,
      ts: Date.now(),
      ops: [{ op: "inc", counter: "v2", by: 1 }],
    }),
  );
  const tooLong = `{"pad":"${"x".repeat(DELTA_BODY_BYTES_MAX + 1 - 10)}"}`;
  eq(Buffer.byteLength(tooLong), DELTA_BODY_BYTES_MAX + 1, "too-large body is 16385 bytes");
  const anySig = forged.envelope.sig;
  const rejects = [
    [A1.envelope, { id: A1.id, status: "duplicate" }],
    [forged.envelope, { id: forged.id, reason: "bad_signature" }],
    [flipped.envelope, { id: flipped.id, reason: "bad_signature" }],
    [conflict.envelope, { id: conflict.id, reason: "seq_conflict" }],
    [future.envelope, { id: future.id, reason: "future_timestamp" }],
    [{ body: smallText, sig: smallSig }, { id: deltaId(smallBytes), reason: "bad_signature" }],
    [nonCanon.envelope, { id: nonCanon.id, reason: "bad_signature" }],
    [reserved.envelope, { id: reserved.id, reason: "reserved_channel" }],
    [badJson.envelope, { id: badJson.id, reason: "bad_json" }],
    [badSchema.envelope, { id: badSchema.id, reason: "bad_schema" }],
    [{ body: A1.text, sig: "abc" }, { id: A1.id, reason: "bad_signature" }],
    [42, { id: null, reason: "bad_envelope" }],
    [{ body: "{}", sig: "x", extra: 1 }, { id: null, reason: "bad_envelope" }],
    [{ body: "{\ud800}", sig: anySig }, { id: null, reason: "bad_encoding" }],
    [{ body: tooLong, sig: anySig }, { id: null, reason: "body_too_large" }],
  ];
  const rres = await region.push(rejects.map(([e]) => e));
  const reasons = {};
  rejects.forEach(([, want], i) => {
    const got = rres[i] ?? {};
    if (want.status === "duplicate") {
      eq(got, want, `reject push [${i}] duplicate`);
      return;
    }
    eq(got.status, "rejected", `reject push [${i}] status (${want.reason})`);
    eq(got.reason, want.reason, `reject push [${i}] reason`);
    eq(got.id, want.id, `reject push [${i}] id (${want.reason})`);
    eq(typeof got.detail, "string", `reject push [${i}] detail`);
    reasons[want.reason] = (reasons[want.reason] ?? 0) + 1;
  });
  check(
    typeof rres[3]?.detail === "string" && rres[3].detail.endsWith(E1.id),
    "seq_conflict detail ends with the stored id",
    rres[3],
  );
  summary.rejectReasonsSeen = reasons;

  // --- whole-request errors (§12, §13)
  await problem(
    region,
    "truncated JSON",
    "POST",
    "/v1/deltas",
    {
      body: '{"deltas":[',
      headers: { "content-type": "application/json" },
    },
    400,
    "malformed-request",
  );
  await problem(
    region,
    "invalid UTF-8",
    "POST",
    "/v1/deltas",
    {
      body: Buffer.from([0x7b, 0xff, 0x7d]),
      headers: { "content-type": "application/json" },
    },
    400,
    "malformed-request",
  );
  await problem(
    region,
    "unknown top-level member",
    "POST",
    "/v1/deltas",
    {
      body: '{"deltas":[],"x":1}',
      headers: { "content-type": "application/json" },
    },
    400,
    "invalid-request",
  );
  await problem(
    region,
    "deltas not an array",
    "POST",
    "/v1/deltas",
    {
      body: '{"deltas":{}}',
      headers: { "content-type": "application/json" },
    },
    400,
    "invalid-request",
  );
  await problem(
    region,
    "text/plain",
    "POST",
    "/v1/deltas",
    {
      body: '{"deltas":[]}',
      headers: { "content-type": "text/plain" },
    },
    415,
    "unsupported-media-type",
  );
  await problem(
    region,
    "257 envelopes",
    "POST",
    "/v1/deltas",
    {
      body: JSON.stringify({ deltas: new Array(PUSH_DELTAS_MAX + 1).fill(42) }),
      headers: { "content-type": "application/json" },
    },
    413,
    "payload-too-large",
  );
  await problem(
    region,
    "bad channel",
    "GET",
    "/v1/channels/bad%20name",
    {},
    400,
    "invalid-request",
  );
  await problem(
    region,
    "channel too long",
    "GET",
    `/v1/channels/${"c".repeat(65)}`,
    {},
    400,
    "invalid-request",
  );
  await problem(
    region,
    "bad author",
    "GET",
    `/v1/channels/${C}/authors/nope`,
    {},
    400,
    "invalid-request",
  );
  for (
    const q of [
      "limit=1001",
      "limit=0",
      "after=-1",
      "after=abc",
      "after=",
      "after=9007199254740992",
    ]
  ) {
    await problem(
      region,
      `tail ${q}`,
      "GET",
      `/v1/channels/${C}/deltas?${q}`,
      {},
      400,
      "invalid-request",
    );
  }
  await problem(
    region,
    "DELETE view",
    "DELETE",
    `/v1/channels/${C}`,
    {},
    405,
    "method-not-allowed",
  );
  await problem(region, "GET /v1/deltas", "GET", "/v1/deltas", {}, 405, "method-not-allowed");
  await problem(
    region,
    "POST tail",
    "POST",
    `/v1/channels/${C}/deltas`,
    {},
    405,
    "method-not-allowed",
  );
  await problem(region, "unknown path", "GET", "/v1/nope", {}, 404, "not-found");
  await problem(region, "trailing slash", "GET", `/v1/channels/${C}/`, {}, 404, "not-found");
  await problem(region, "/v1/sync absent", "GET", "/v1/sync", {}, 404, "not-found");
  const emptyPush = await region.http("POST", "/v1/deltas", {
    body: '{"deltas":[]}',
    headers: { "content-type": "application/json" },
  });
  eq([emptyPush.status, emptyPush.text], [200, '{"results":[]}'], "empty push");
  const bomPush = await region.http("POST", "/v1/deltas", {
    body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"deltas":[]}')]),
    headers: { "content-type": "application/json" },
  });
  eq(bomPush.status, 200, "push with a leading BOM");
  // §12.3: "If a parameter is repeated, the first occurrence counts."
  const rep = await region.http(
    "GET",
    `/v1/channels/${C}/deltas?limit=1&limit=1001&after=0&after=x`,
  );
  eq(rep.status, 200, "tail: repeated query parameters, first occurrence counts (status)");
  if (rep.status === 200) eq(JSON.parse(rep.text).deltas.length, 1, "tail: first limit counts");
  const maxAfter = await region.tailPage(C, "9007199254740991");
  eq(
    [maxAfter.deltas.length, maxAfter.cursor, maxAfter.more],
    [0, "9007199254740991", false],
    "tail after=INTEGER_MAX",
  );

  // --- second channel: gaps with head 0, a mixed-order key, lone surrogates, sorting
  const E2 = A.sign(C2, [{ op: "add", set: "s", elem: "\u00e9\u0000" }], { seq: 2 });
  const E3 = A.sign(C2, [
    {
      op: "set",
      key: "\u007f\u2028",
      value: { "\ud83d\ude00": "\u2029", "\u00e9": "\u0001", "\uffff": 0, "": [{}] },
    },
    { op: "set", key: "constructor", value: [] },
  ], { seq: 3 });
  const E5 = A.sign(C2, [{ op: "inc", counter: "c", by: -MAX }], { seq: 5 });
  const M = mixedOrderSigner();
  const Mt = M.signText(
    bodyText({
      author: M.id,
      seq: 1,
      channel: C2,
      ts: Date.now(),
      ops: [{ op: "inc", counter: "c", by: -MAX }, { op: "add", set: "s", elem: "Z" }],
    }),
  );
  check(
    verifySignature(
      M.pub,
      b64uDecodeStrict(Mt.envelope.sig),
      signedMessage(Buffer.from(Mt.text)),
      "mixed",
    ),
    "mixed-order-key delta passes §6 locally",
  );
  await region.pushExpect([E5, E3, E2, Mt], "push C2 (gaps, mixed-order key)");
  keep(knownC2, E2, E3, E5, Mt);

  // --- §4.4: a `\udxxx` escape inside the body decodes to a lone surrogate, and "v1 accepts that
  // in keys, names, elements and values"; §10 even shows such a delta "captured from a running
  // region". One delta per case, in its own channel, asserted as the document says.
  const CS = `interop-surrogates-${run}`;
  const knownCS = new Map();
  const loneCases = {
    "§10 example (lone surrogate value)": JSON.parse(
      '{"op":"set","key":"\\u00e9\\n\\u2028\\ud83d\\ude00\\u001f\\u007f/","value":"\\ud800"}',
    ),
    "map key": { op: "set", key: "\udfff", value: 1 },
    "member name inside a value": { op: "set", key: "m", value: JSON.parse('{"\\ud800":1}') },
    "set element": { op: "add", set: "s", elem: "\ud800" },
    "set name": { op: "add", set: "\udc00", elem: "e" },
    "counter name": { op: "inc", counter: "\ud800", by: 1 },
  };
  const loneDeltas = Object.values(loneCases).map((op) => A.sign(CS, [op]));
  for (const d of loneDeltas) {
    check(d.text.includes("\\ud") && !hasLoneSurrogate(d.text), "lone surrogate only as an escape");
  }
  const loneRes = await region.push(loneDeltas.map((d) => d.envelope));
  const loneRejected = {};
  Object.keys(loneCases).forEach((name, i) => {
    const ok = loneRes[i]?.status === "accepted";
    if (ok) keep(knownCS, loneDeltas[i]);
    if (ok !== LONE_SURROGATES_ACCEPTED) {
      loneRejected[name] = `${loneRes[i]?.status} ${loneRes[i]?.reason}: ${loneRes[i]?.detail}`;
    }
  });
  check(
    Object.keys(loneRejected).length === 0,
    `REGION != DOC (§4.4, §10): deltas with lone surrogates from \\udxxx escapes must be ${
      LONE_SURROGATES_ACCEPTED ? "accepted" : "rejected"
    }`,
    loneRejected,
  );

  // --- verify everything from the tails (§14)
  const vC = await verifyChannel(region, C, knownC, true);
  const vC2 = await verifyChannel(region, C2, knownC2, true);
  const vEx = await verifyChannel(region, "example", exampleKnown, false);
  const vCS = await verifyChannel(region, CS, knownCS, true);

  // --- semantic expectations (the document's rules, checked on the fold the region matched)
  const s = vC.state;
  eq(s.map.get("tie"), `from-${hi.name}`, "author tie-break: larger author wins (§9.1)");
  eq(s.map.get("dup"), 2, "within one delta a later op wins");
  check(!s.map.has("x") && !s.map.has("nothing") && !s.map.has("gone"), "tombstones omitted");
  eq(s.map.get("revived"), "yes", "a later set beats an earlier del");
  eq(s.map.get("hand"), "café / 😀", "hand-written body with escapes");
  eq(s.sets.get("tags"), ["blue", "red"], "add-wins; remove-before-add; green removed");
  eq(s.sets.get("ghosts"), ["boo"], "set ghosts");
  eq(s.sets.get("uni"), ["Z", "a", "😀", "\uffff"], "UTF-16 code-unit sort");
  eq(s.counters.get("visits"), 18014398509481981n, "visits beyond 2^53");
  eq(s.counters.get("neg"), -27021597764222973n, "negative counter beyond -2^53");
  eq(s.counters.get("zero"), 0n, "counter summing to 0 is present");
  eq(s.counters.get("zero2"), 0n, "counter with only by=0 is present");
  eq(s.counters.get("pad"), 2n, "pad counter");
  eq(s.counters.get("hand"), 1n, "by written as 1e0");
  eq(s.heads.get(A.id), A.seqs.get(C), "head of A");
  eq(s.heads.get(B.id), gapSeq1 - 2, "head of B");
  eq(s.gaps.get(B.id), [[gapSeq1 - 1, gapSeq1 - 1], [gapSeq2 - 2, gapSeq2 - 1]], "gaps of B");
  check(!s.gaps.has(A.id), "A has no gaps");
  const numView = canon(s.map.get("nums"));
  eq(
    numView,
    "[12345678901234567000,1e+21,100,0,1e-7,0.000001,5e-324,1.7976931348623157e+308,0.1,-1.5e-10,100,1.2345678901234569e+23]",
    "numbers as binary64",
  );
  const s2 = vC2.state;
  eq(s2.heads.get(A.id), 0, "C2: head 0 when seq 1 is missing");
  eq(s2.gaps.get(A.id), [[1, 1], [4, 4]], "C2: gaps of A");
  eq(s2.heads.get(M.id), 1, "C2: mixed-order key accepted");
  eq(s2.counters.get("c"), -18014398509481982n, "C2: counter");

  // --- author progress endpoint (§12.4)
  eq(
    await region.author(C, B.id),
    {
      channel: C,
      author: B.id,
      contiguous: gapSeq1 - 2,
      max: gapSeq2,
      count: knownCount(knownC, B.id),
    },
    "author progress B",
  );
  eq(
    await region.author(C2, A.id),
    { channel: C2, author: A.id, contiguous: 0, max: 5, count: 3 },
    "author progress A in C2",
  );
  eq(
    await region.author(C, identityKey),
    { channel: C, author: identityKey, contiguous: 0, max: 0, count: 0 },
    "author progress unknown author",
  );

  // --- probes of points the document leaves open (recorded, not asserted)
  const zeroPad = await region.tailPage(emptyName, "000");
  observe("tail of an empty channel with after=000 echoes cursor", zeroPad.cursor);
  const dupTagsProbe = B.sign(`probe-${run}`, [
    { op: "rmv", set: "s", elem: "e", tags: [`${A1.id}:1`, `${A1.id}:1`] },
  ]);
  const dupRes = await region.push([dupTagsProbe.envelope]);
  observe("rmv with a repeated tag in `tags`", dupRes[0]);
  const tagRange = B.sign(`probe-${run}`, [
    { op: "rmv", set: "s", elem: "e", tags: [`${A1.id}:99`] },
  ]);
  observe(
    "DOC GAP: rmv tag with op index 99 (matches TAG_PATTERN, but no add can have index >= 64)",
    (await region.push([tagRange.envelope]))[0],
  );
  for (
    const [m, path] of [["POST", "/v1/health"], ["DELETE", `/v1/channels/${C}/authors/${A.id}`]]
  ) {
    const r = await region.http(m, path);
    observe(
      `${m} ${path.replace(C, "{c}").replace(A.id, "{a}")} (method on a route §12 does not cover)`,
      r.status,
    );
  }
  const enc = await region.http("GET", `/v1/channels/bad%20name`);
  observe("problem `instance` for a percent-encoded path", JSON.parse(enc.text).instance);

  summary.channels = [vC, vC2, vEx, vCS].map(({ channel, deltas, pages, same }) => ({
    channel,
    deltas,
    tailPages: pages,
    viewBytesEqual: same,
  }));
  summary.tieWinner = hi.name;
  return summary;
}

function knownCount(known, author) {
  let n = 0;
  for (const d of known.values()) if (d.body.author === author) n++;
  return n;
}

async function main() {
  const url = process.argv[2];
  if (!url) {
    console.error("usage: node test/interop/node_client.mjs <regionUrl>");
    process.exit(2);
  }
  const started = Date.now();
  const region = new Region(url);
  let summary = {};
  try {
    const worked = selfChecks();
    summary = await scenario(region, worked);
  } catch (e) {
    failures.push({ label: "exception", details: String(e?.stack ?? e) });
  }
  const out = {
    ok: failures.length === 0,
    checks,
    failed: failures.length,
    requests: region.requests,
    ms: Date.now() - started,
    ...summary,
    observations,
  };
  if (failures.length > 0) {
    out.failures = failures.map((f) => f.label);
    for (const f of failures) console.error("FAIL", JSON.stringify(f, null, 2));
  }
  console.log(JSON.stringify(out));
  process.exit(failures.length === 0 ? 0 : 1);
}

main();
