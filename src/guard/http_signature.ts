/**
 * Who sent this request: verifies an agent's HTTP Message Signature (RFC 9421, profiled in
 * docs/protocol.md §21). `checkAgentSignature` is pure apart from the ed25519 check: it parses
 * `Signature-Input` and `Signature` (RFC 9651 dictionaries, every size bounded), requires the
 * mesh's components and parameters, checks `Content-Digest` against the body, the `created` skew
 * and `expires`, rebuilds the signature base and verifies it with the agent's key.
 * `claimAgentNonce` then claims the nonce in the regional store, so the same signed request is
 * refused by every instance of the region. Each outcome is a value; `signatureRefusal` says how
 * the HTTP edge answers a refusal (401, or 403 for another agent's valid signature).
 */
import { type Dictionary, type Item, type Parameters, parseDictionary } from "structured-headers";
import { verifyEd25519 } from "../crypto/ed25519.ts";
import { sha256 } from "../crypto/sha256.ts";
import { decodeBase64Url } from "../protocol/base64url.ts";
import { ID_PATTERN } from "../protocol/delta.ts";
import type { VerifyFn } from "../protocol/result.ts";
import {
  DERIVED_COMPONENTS,
  HTTP_SIGNATURE_ALG,
  HTTP_SIGNATURE_COMPONENTS_MAX,
  HTTP_SIGNATURE_FIELD_BYTES_MAX,
  HTTP_SIGNATURE_LABELS_MAX,
  HTTP_SIGNATURE_NONCE_PATTERN,
  HTTP_SIGNATURE_PARAMS_MAX,
  HTTP_SIGNATURE_REQUIRED_COMPONENTS,
  HTTP_SIGNATURE_SKEW_MS_MAX,
  HTTP_SIGNATURE_TAG,
  signatureBase,
  type SignedMessageParts,
} from "../protocol/signature_base.ts";
import { utf8Encode } from "../protocol/utf8.ts";

/**
 * How long a claimed nonce is remembered, in ms. A request is accepted while its `created` is
 * within `HTTP_SIGNATURE_SKEW_MS_MAX` of the region clock, so a replay can succeed at most
 * `2 × HTTP_SIGNATURE_SKEW_MS_MAX` after the first claim; the rest is room for the instances'
 * clocks to differ.
 */
export const HTTP_SIGNATURE_NONCE_TTL_MS = 2 * HTTP_SIGNATURE_SKEW_MS_MAX + 10_000;
/** Prefix of the store nonce of an agent request (region messages claim `<region id>:<nonce>`). */
export const AGENT_NONCE_PREFIX = "agent-req:";

/** Why a signed agent request is refused. */
export type AgentSignatureReason =
  /** No `Signature-Input` and `Signature`, or none tagged `mesh-agent`. */
  | "missing"
  /** Fields that do not parse, break a bound, or lack a required component or parameter. */
  | "malformed"
  /** The signature (or the body's `Content-Digest`) does not verify. */
  | "bad_signature"
  /** `created` too far from the region clock, or past `expires`. */
  | "stale"
  /** The nonce was already used by a request this region accepted. */
  | "replayed"
  /** A valid signature, but by another agent than the one the resource belongs to. */
  | "wrong_key";

export interface AgentSignatureRefused {
  readonly ok: false;
  readonly reason: AgentSignatureReason;
  readonly detail: string;
}

export interface AgentSignatureVerified {
  readonly ok: true;
  /** The agent whose key signed: the `keyid`. */
  readonly agent: string;
  /** The signer's `created`, in seconds since the epoch (within the skew of the region clock). */
  readonly created: number;
  readonly nonce: string;
  readonly label: string;
}

export type AgentSignatureOutcome = AgentSignatureVerified | AgentSignatureRefused;

/** A request as the check needs it: method, absolute URL, header fields and the body bytes. */
export interface SignedRequest extends SignedMessageParts {
  readonly body: Uint8Array;
  /**
   * The SHA-256 the body must have, for a route that streams the body instead of reading it
   * first and checks the bytes against this itself (a blob upload names it in its path):
   * `content-digest` must then be covered and equal to it, and `body` is not looked at.
   */
  readonly streamedSha256?: Uint8Array;
}

export interface AgentSignatureCheck {
  /** The region's wall clock, ms since the epoch. */
  readonly nowMs: number;
  /** The agent the resource belongs to: a valid signature by another key is `wrong_key`. */
  readonly agent?: string;
  /** Ed25519 check; default `verifyEd25519` (the project's one acceptance rule). */
  readonly verify?: VerifyFn;
}

/** Claims a store nonce for `ttlMs`: false when it is already claimed (`RegionStore.claimNonce`). */
export type ClaimNonce = (nonce: string, ttlMs: number, nowMs: number) => Promise<boolean>;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const DERIVED: ReadonlySet<string> = new Set(DERIVED_COMPONENTS);

function refused(reason: AgentSignatureReason, detail: string): AgentSignatureRefused {
  return { ok: false, reason, detail };
}

/** Checks the agent signature of `request` without touching the store (see the module doc). */
export async function checkAgentSignature(
  request: SignedRequest,
  check: AgentSignatureCheck,
): Promise<AgentSignatureOutcome> {
  const found = findSignature(request.headers);
  if (!found.ok) return found;
  const { label, components, params, signature } = found;
  const shape = checkShape(components, params);
  if (shape !== null) return shape;
  const keyid = params.get("keyid") as string;
  const created = params.get("created") as number;
  const digest = checkDigest(request, components);
  if (digest !== null) return digest;
  const time = checkTime(created, params.get("expires") as number | undefined, check.nowMs);
  if (time !== null) return time;
  const base = signatureBase(request, { components, params });
  if (typeof base !== "string") {
    return base.error === "absent"
      ? refused("malformed", `The signature covers ${base.component}, which the request lacks`)
      : refused("malformed", `The value of ${base.component} is not printable ASCII`);
  }
  const verify = check.verify ?? verifyEd25519;
  if (!await verify(decodeBase64Url(keyid)!, signature, utf8Encode(base))) {
    return refused("bad_signature", `The signature does not verify with the key ${keyid}`);
  }
  if (check.agent !== undefined && keyid !== check.agent) {
    return refused("wrong_key", `Signed by ${keyid}, but this resource belongs to ${check.agent}`);
  }
  return { ok: true, agent: keyid, created, nonce: params.get("nonce") as string, label };
}

/**
 * Claims the nonce of a verified request in the store (namespaced by agent, apart from region
 * messages' nonces): `replayed` when any instance of the region already accepted it. Throws what
 * the store throws (`StoreUnavailableError`).
 */
export async function claimAgentNonce(
  verified: AgentSignatureVerified,
  claimNonce: ClaimNonce,
  nowMs: number,
): Promise<AgentSignatureOutcome> {
  const key = `${AGENT_NONCE_PREFIX}${verified.agent}:${verified.nonce}`;
  if (await claimNonce(key, HTTP_SIGNATURE_NONCE_TTL_MS, nowMs)) return verified;
  return refused(
    "replayed",
    `The nonce ${verified.nonce} was already used; sign each request anew`,
  );
}

/** `checkAgentSignature` then `claimAgentNonce`. */
export async function verifyAgentRequest(
  request: SignedRequest,
  check: AgentSignatureCheck & { readonly claimNonce: ClaimNonce },
): Promise<AgentSignatureOutcome> {
  const outcome = await checkAgentSignature(request, check);
  return outcome.ok ? await claimAgentNonce(outcome, check.claimNonce, check.nowMs) : outcome;
}

/** How the HTTP edge answers a refusal: 401 (or 403 for `wrong_key`), with a hint of what to sign. */
export interface SignatureRefusal {
  readonly slug: "unauthorized" | "forbidden";
  readonly detail: string;
  readonly headers: Record<string, string>;
}

/** The `Accept-Signature` field (RFC 9421 §5.1) that tells a client what the region verifies. */
export const ACCEPT_AGENT_SIGNATURE = `mesh=(${
  HTTP_SIGNATURE_REQUIRED_COMPONENTS.map((c) => `"${c}"`).join(" ")
});created;keyid;nonce;alg="${HTTP_SIGNATURE_ALG}";tag="${HTTP_SIGNATURE_TAG}"`;

export function signatureRefusal(outcome: AgentSignatureRefused): SignatureRefusal {
  if (outcome.reason === "wrong_key") {
    return { slug: "forbidden", detail: outcome.detail, headers: {} };
  }
  return {
    slug: "unauthorized",
    detail: `${outcome.detail} (${outcome.reason})`,
    headers: {
      "www-authenticate": `Signature realm="mesh", error="${outcome.reason}"`,
      "accept-signature": ACCEPT_AGENT_SIGNATURE,
    },
  };
}

interface Found {
  readonly ok: true;
  readonly label: string;
  readonly components: string[];
  readonly params: Parameters;
  readonly signature: Uint8Array;
}

/** The one `Signature-Input` member tagged `mesh-agent`, its components and its signature. */
function findSignature(headers: Headers): Found | AgentSignatureRefused {
  const inputText = headers.get("signature-input");
  const signatureText = headers.get("signature");
  if (inputText === null && signatureText === null) {
    return refused("missing", "The request has no Signature-Input and Signature fields");
  }
  const inputs = dictionary("Signature-Input", inputText);
  if (!(inputs instanceof Map)) return inputs;
  const signatures = dictionary("Signature", signatureText);
  if (!(signatures instanceof Map)) return signatures;
  const tagged: [string, Item[], Parameters][] = [];
  for (const [label, member] of inputs) {
    if (!Array.isArray(member[0])) {
      return refused("malformed", `Signature-Input member ${label} is not an inner list`);
    }
    if (member[1].get("tag") === HTTP_SIGNATURE_TAG) tagged.push([label, member[0], member[1]]);
  }
  if (tagged.length === 0) {
    return refused("missing", `No Signature-Input member has tag="${HTTP_SIGNATURE_TAG}"`);
  }
  if (tagged.length > 1) {
    return refused(
      "malformed",
      `More than one Signature-Input member has tag="${HTTP_SIGNATURE_TAG}"`,
    );
  }
  const [[label, items, params]] = tagged;
  const value = signatures.get(label)?.[0];
  if (!(value instanceof ArrayBuffer) || value.byteLength !== 64) {
    return refused("malformed", `Signature has no 64-byte byte sequence labelled ${label}`);
  }
  const components: string[] = [];
  for (const [name, itemParams] of items) {
    if (typeof name !== "string" || itemParams.size > 0) {
      return refused("malformed", "Covered components must be strings without parameters");
    }
    components.push(name);
  }
  return { ok: true, label, components, params, signature: new Uint8Array(value) };
}

/** A bounded RFC 9651 dictionary field, or why it is refused. */
function dictionary(field: string, text: string | null): Dictionary | AgentSignatureRefused {
  if (text === null) return refused("malformed", `The ${field} field is missing`);
  if (text.length > HTTP_SIGNATURE_FIELD_BYTES_MAX) {
    return refused("malformed", `${field} is over ${HTTP_SIGNATURE_FIELD_BYTES_MAX} bytes`);
  }
  let parsed: Dictionary;
  try {
    parsed = parseDictionary(text);
  } catch (error) {
    return refused(
      "malformed",
      `${field} is not a structured dictionary: ${(error as Error).message}`,
    );
  }
  if (parsed.size > HTTP_SIGNATURE_LABELS_MAX) {
    return refused("malformed", `${field} has more than ${HTTP_SIGNATURE_LABELS_MAX} members`);
  }
  return parsed;
}

/** The covered components and parameters the mesh requires, or the first thing wrong. */
function checkShape(components: string[], params: Parameters): AgentSignatureRefused | null {
  if (components.length > HTTP_SIGNATURE_COMPONENTS_MAX) {
    return refused("malformed", `At most ${HTTP_SIGNATURE_COMPONENTS_MAX} covered components`);
  }
  if (new Set(components).size !== components.length) {
    return refused("malformed", "A component is covered twice");
  }
  for (const c of components) {
    if (c.startsWith("@") ? !DERIVED.has(c) : !HEADER_NAME.test(c)) {
      return refused("malformed", `Unsupported component ${JSON.stringify(c)}`);
    }
  }
  for (const c of HTTP_SIGNATURE_REQUIRED_COMPONENTS) {
    if (!components.includes(c)) return refused("malformed", `The signature must cover ${c}`);
  }
  if (params.size > HTTP_SIGNATURE_PARAMS_MAX) {
    return refused("malformed", `At most ${HTTP_SIGNATURE_PARAMS_MAX} signature parameters`);
  }
  if (params.get("alg") !== HTTP_SIGNATURE_ALG) {
    return refused("malformed", `The signature must have alg="${HTTP_SIGNATURE_ALG}"`);
  }
  const keyid = params.get("keyid");
  if (typeof keyid !== "string" || !ID_PATTERN.test(keyid)) {
    return refused("malformed", "keyid must be the agent id (43 base64url characters)");
  }
  const nonce = params.get("nonce");
  if (typeof nonce !== "string" || !HTTP_SIGNATURE_NONCE_PATTERN.test(nonce)) {
    return refused("malformed", "nonce must be 16 to 64 base64url characters");
  }
  if (!isSeconds(params.get("created"))) {
    return refused("malformed", "created must be an integer (seconds since the epoch)");
  }
  if (params.has("expires") && !isSeconds(params.get("expires"))) {
    return refused("malformed", "expires must be an integer (seconds since the epoch)");
  }
  return null;
}

function isSeconds(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** A body must be covered by a `content-digest` whose sha-256 is the body's. */
function checkDigest(request: SignedRequest, components: string[]): AgentSignatureRefused | null {
  const covered = components.includes("content-digest");
  if (!covered) {
    return request.body.length === 0 && request.streamedSha256 === undefined
      ? null
      : refused("malformed", "A request with a body must cover content-digest");
  }
  const digests = dictionary("Content-Digest", request.headers.get("content-digest"));
  if (!(digests instanceof Map)) return digests;
  const value = digests.get("sha-256")?.[0];
  if (!(value instanceof ArrayBuffer)) {
    return refused("malformed", "Content-Digest must have a sha-256 byte sequence");
  }
  const actual = request.streamedSha256 ?? sha256(request.body);
  const claimed = new Uint8Array(value);
  if (claimed.length !== actual.length || claimed.some((b, i) => b !== actual[i])) {
    return refused("bad_signature", "Content-Digest does not match the body");
  }
  return null;
}

/** `created` within the skew of the region clock, and not past `expires`. */
function checkTime(
  created: number,
  expires: number | undefined,
  nowMs: number,
): AgentSignatureRefused | null {
  const skewMs = created * 1000 - nowMs;
  if (Math.abs(skewMs) > HTTP_SIGNATURE_SKEW_MS_MAX) {
    return refused(
      "stale",
      `created is ${Math.round(skewMs / 1000)} s from the region clock (at most ` +
        `${HTTP_SIGNATURE_SKEW_MS_MAX / 1000} s either way)`,
    );
  }
  if (expires !== undefined && expires * 1000 < nowMs) {
    return refused("stale", "The signature expired");
  }
  return null;
}
