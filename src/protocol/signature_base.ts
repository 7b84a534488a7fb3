/**
 * Signed agent requests, the wire part (docs/protocol.md §21): HTTP Message Signatures (RFC 9421)
 * as the mesh profiles them — which components an agent covers, the signature parameters, the
 * signature base (RFC 9421 §2.5) and `Content-Digest` (RFC 9530, sha-256). Pure: the SDK signs
 * with it and the region's guard verifies with it, so both build the same bytes.
 *
 * The signature base always starts with `"` (a quoted component name), so it never equals a
 * message of another domain (every other signed message starts with `mesh.`): a key's signature
 * over one cannot be replayed as the other.
 */
import {
  type InnerList,
  type Item,
  type Parameters,
  serializeByteSequence,
  serializeInnerList,
  serializeItem,
} from "structured-headers";
import { encodeBase64Url } from "./base64url.ts";
import { sha256 } from "../crypto/sha256.ts";

/** The `alg` parameter of an agent's signature: the only algorithm agents sign with. */
export const HTTP_SIGNATURE_ALG = "ed25519";
/** The `tag` parameter that marks the agent's signature among the members of the fields. */
export const HTTP_SIGNATURE_TAG = "mesh-agent";
/** The label the SDK gives its signature (any label is accepted; the tag finds it). */
export const HTTP_SIGNATURE_LABEL = "mesh";
/** Components every signed agent request covers, in the order the SDK lists them. */
export const HTTP_SIGNATURE_REQUIRED_COMPONENTS = [
  "@method",
  "@authority",
  "@path",
  "@query",
] as const;
/** Most time between the signer's `created` and the region's clock, either way, in ms. */
export const HTTP_SIGNATURE_SKEW_MS_MAX = 60_000;
/** Largest `Signature-Input`, `Signature` or `Content-Digest` field, in bytes. */
export const HTTP_SIGNATURE_FIELD_BYTES_MAX = 4_096;
/** Most members (labels) in `Signature-Input` or `Signature`. */
export const HTTP_SIGNATURE_LABELS_MAX = 4;
/** Most components one signature covers. */
export const HTTP_SIGNATURE_COMPONENTS_MAX = 16;
/** Most parameters of one signature. */
export const HTTP_SIGNATURE_PARAMS_MAX = 8;
/** Nonce: base64url characters, this many at least and at most. */
export const HTTP_SIGNATURE_NONCE_CHARS_MIN = 16;
export const HTTP_SIGNATURE_NONCE_CHARS_MAX = 64;
export const HTTP_SIGNATURE_NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
/** Bytes of randomness in a nonce the SDK makes (22 base64url characters). */
export const HTTP_SIGNATURE_NONCE_BYTES = 16;

if (
  HTTP_SIGNATURE_NONCE_PATTERN.source !==
    `^[A-Za-z0-9_-]{${HTTP_SIGNATURE_NONCE_CHARS_MIN},${HTTP_SIGNATURE_NONCE_CHARS_MAX}}$`
) {
  throw new Error("HTTP_SIGNATURE_NONCE_PATTERN must say the nonce's length bounds");
}
if (Math.ceil(HTTP_SIGNATURE_NONCE_BYTES * 4 / 3) < HTTP_SIGNATURE_NONCE_CHARS_MIN) {
  throw new Error("HTTP_SIGNATURE_NONCE_BYTES must give a nonce the region accepts");
}

/** Derived components the region can compute for a request (RFC 9421 §2.2). */
export const DERIVED_COMPONENTS = [
  "@method",
  "@target-uri",
  "@authority",
  "@scheme",
  "@request-target",
  "@path",
  "@query",
] as const;

/** What a signature base is built from: a request's method, absolute URL and header fields. */
export interface SignedMessageParts {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
}

/** The signature parameters the mesh uses, in the order the SDK writes them. */
export interface SignatureParams {
  /** Seconds since the epoch when the signature was made (the signer's clock). */
  readonly created: number;
  /** The agent id (base64url public key) whose key signed. */
  readonly keyid: string;
  /** A fresh random value per request, `HTTP_SIGNATURE_NONCE_PATTERN`. */
  readonly nonce: string;
  /** Seconds since the epoch after which the signature is void; optional. */
  readonly expires?: number;
}

/** A signature's covered components and parameters, as parsed from or written to the field. */
export interface SignatureInput {
  readonly components: readonly string[];
  readonly params: Parameters;
}

/** The RFC 9651 parameters of `params`: created, keyid, nonce, alg, tag, and expires if given. */
export function signatureParameters(params: SignatureParams): Parameters {
  const out: Parameters = new Map();
  out.set("created", params.created);
  if (params.expires !== undefined) out.set("expires", params.expires);
  out.set("keyid", params.keyid);
  out.set("nonce", params.nonce);
  out.set("alg", HTTP_SIGNATURE_ALG);
  out.set("tag", HTTP_SIGNATURE_TAG);
  return out;
}

/** The serialized inner list: the value of `@signature-params` and of the `Signature-Input` member. */
export function signatureParamsText(input: SignatureInput): string {
  const list: InnerList = [input.components.map((c): Item => [c, new Map()]), input.params];
  return serializeInnerList(list);
}

/** The `Signature` field of one signature: `<label>=:<base64>:`. */
export function signatureField(label: string, signature: Uint8Array): string {
  return `${label}=${serializeByteSequence(new Uint8Array(signature))}`;
}

/**
 * The value of one covered component of a request, or null when the request has none (an
 * absent header field, an unknown derived component). Header values come as `Headers` joins
 * them: each trimmed, repeated fields joined with `, ` (RFC 9421 §2.1).
 */
export function componentValue(parts: SignedMessageParts, name: string): string | null {
  if (!name.startsWith("@")) return parts.headers.get(name);
  const url = new URL(parts.url);
  // The query as sent: an empty one (`/p?`) keeps its `?` (URL.search drops it), as RFC 9421 says.
  const query = url.search !== "" ? url.search : (url.href.split("#")[0].endsWith("?") ? "?" : "");
  switch (name) {
    case "@method":
      return parts.method;
    case "@target-uri":
      return `${url.protocol}//${url.host}${url.pathname}${query}`;
    case "@authority":
      return url.host;
    case "@scheme":
      return url.protocol.slice(0, -1);
    case "@request-target":
      return `${url.pathname}${query}`;
    case "@path":
      return url.pathname === "" ? "/" : url.pathname;
    case "@query":
      return url.search === "" ? "?" : url.search;
    default:
      return null;
  }
}

/** Why a signature base cannot be built. */
export type SignatureBaseError =
  | { readonly error: "absent"; readonly component: string }
  | { readonly error: "not_ascii"; readonly component: string };

/**
 * The signature base of RFC 9421 §2.5: one line `"<component>": <value>` per covered component,
 * in the order covered, then `"@signature-params": <paramsText>`, joined by LF with no final LF.
 * An error when a covered component is absent or its value is not printable ASCII.
 */
export function signatureBase(
  parts: SignedMessageParts,
  input: SignatureInput,
): string | SignatureBaseError {
  const lines: string[] = [];
  for (const component of input.components) {
    const value = componentValue(parts, component);
    if (value === null) return { error: "absent", component };
    if (!/^[\t\x20-\x7e]*$/.test(value)) return { error: "not_ascii", component };
    lines.push(`${serializeItem([component, new Map()])}: ${value}`);
  }
  lines.push(`"@signature-params": ${signatureParamsText(input)}`);
  return lines.join("\n");
}

/** The `Content-Digest` field of a body (RFC 9530): `sha-256=:<base64 of SHA-256>:`. */
export function contentDigest(body: Uint8Array): string {
  return contentDigestOf(sha256(body));
}

/** The `Content-Digest` field of a body whose SHA-256 is `digest` (a streamed blob's). */
export function contentDigestOf(digest: Uint8Array): string {
  return `sha-256=${serializeByteSequence(new Uint8Array(digest))}`;
}

/** A random nonce of `HTTP_SIGNATURE_NONCE_BYTES` bytes, base64url. */
export function randomNonce(): string {
  return encodeBase64Url(crypto.getRandomValues(new Uint8Array(HTTP_SIGNATURE_NONCE_BYTES)));
}
