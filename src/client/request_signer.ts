/**
 * Signs an HTTP request as an agent (RFC 9421, docs/protocol.md §21): covers `@method`,
 * `@authority`, `@path`, `@query` and, when there is a body, `content-digest` (RFC 9530, sha-256,
 * added here); parameters `created`, `keyid` (the agent id), a fresh `nonce`, `alg="ed25519"` and
 * `tag="mesh-agent"`. A region accepts each signed request once, within a minute of `created`.
 */
import type { AgentKey } from "../crypto/agent_key.ts";
import {
  contentDigest,
  contentDigestOf,
  HTTP_SIGNATURE_LABEL,
  HTTP_SIGNATURE_REQUIRED_COMPONENTS,
  randomNonce,
  signatureBase,
  signatureField,
  signatureParameters,
  signatureParamsText,
} from "../protocol/signature_base.ts";
import { utf8Encode } from "../protocol/utf8.ts";

export interface SignRequestOptions {
  /** The signer's clock, ms since the epoch (`created` is its whole seconds). Default `Date.now()`. */
  readonly nowMs?: number;
  /** The nonce; default 16 random bytes as base64url. Never reuse one. */
  readonly nonce?: string;
  /** Seconds after `created` when the signature lapses; default none. */
  readonly expiresInS?: number;
  /** The label of the signature in the fields; default `mesh`. */
  readonly label?: string;
  /**
   * The SHA-256 of a body too large to read twice (a blob upload, whose path names it): the
   * body is then passed on as a stream, unread, and `Content-Digest` is made from this.
   */
  readonly bodySha256?: Uint8Array;
}

/**
 * A copy of `request` signed by `key`: the same method, URL and body, with `Content-Digest`
 * (when there is a body), `Signature-Input` and `Signature` set. Reads the body (a clone).
 */
export async function signRequest(
  key: AgentKey,
  request: Request,
  options: SignRequestOptions = {},
): Promise<Request> {
  const streamed = options.bodySha256;
  const body = streamed === undefined
    ? new Uint8Array(await request.clone().arrayBuffer())
    : request.body;
  const headers = new Headers(request.headers);
  const components: string[] = [...HTTP_SIGNATURE_REQUIRED_COMPONENTS];
  if (streamed !== undefined) {
    headers.set("content-digest", contentDigestOf(streamed));
    components.push("content-digest");
  } else if (body instanceof Uint8Array && body.length > 0) {
    headers.set("content-digest", contentDigest(body));
    components.push("content-digest");
  }
  const created = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const params = signatureParameters({
    created,
    keyid: key.id,
    nonce: options.nonce ?? randomNonce(),
    expires: options.expiresInS === undefined ? undefined : created + options.expiresInS,
  });
  const input = { components, params };
  const base = signatureBase({ method: request.method, url: request.url, headers }, input);
  if (typeof base !== "string") {
    throw new TypeError(`Cannot sign the request as ${base.component} is ${base.error}`);
  }
  const label = options.label ?? HTTP_SIGNATURE_LABEL;
  headers.set("signature-input", `${label}=${signatureParamsText(input)}`);
  headers.set("signature", signatureField(label, key.sign(utf8Encode(base))));
  return new Request(request.url, {
    method: request.method,
    headers,
    body: body instanceof Uint8Array && body.length === 0 ? undefined : body,
    signal: request.signal,
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
}
