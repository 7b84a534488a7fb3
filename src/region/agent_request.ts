/**
 * The edge of a route only an agent itself may call (docs/protocol.md §21): the RFC 9421
 * signature checked without the store (a forger costs CPU only), the `@authority` it signed
 * against this region's own (a request signed for another region is refused), then its nonce
 * claimed in the store (a replay is refused by every instance). Refusals are problem+json: 401,
 * or 403 when another agent signed. Used by heartbeats, mailbox reads and acknowledgements.
 */
import type { Context } from "hono";
import type { Span } from "@opentelemetry/api";
import {
  type AgentSignatureRefused,
  type AgentSignatureVerified,
  checkAgentSignature,
  claimAgentNonce,
  signatureRefusal,
} from "../guard/http_signature.ts";
import { ID_PATTERN } from "../protocol/delta.ts";
import type { RegionStore } from "../store/region_store.ts";
import { names, type Telemetry } from "../telemetry/mod.ts";
import { Problem } from "./problem.ts";
import { readBodyBytes } from "./read_body.ts";

export interface AgentRequestCheck {
  readonly store: RegionStore;
  readonly telemetry: Telemetry;
  readonly base: Record<string, string>;
  readonly nowMs: number;
  /** The region's public authorities (`host[:port]`); empty: any (a region outside a mesh). */
  readonly authorities: readonly string[];
  /** Largest body the route takes, in bytes (0: none). */
  readonly bodyBytesMax: number;
  /** The body's SHA-256 when the route streams the body itself (a blob upload): left unread. */
  readonly streamedSha256?: Uint8Array;
}

/** The agent id of the route (`:id`), checked. */
export function agentParam(c: Context): string {
  const id = c.req.param("id") ?? "";
  if (!ID_PATTERN.test(id)) {
    throw new Problem("invalid-request", "agent id must be a 43-character base64url public key");
  }
  return id;
}

/**
 * The verified signature of a request that agent `agent` signed (any agent when undefined), and
 * its body; throws the refusal's Problem otherwise (and counts it, and sets the span's outcome).
 */
export async function signedByAgent(
  c: Context,
  agent: string | undefined,
  span: Span,
  check: AgentRequestCheck,
): Promise<{ readonly verified: AgentSignatureVerified; readonly body: Uint8Array }> {
  const { telemetry, base, nowMs, store } = check;
  const { streamedSha256, bodyBytesMax } = check;
  const body = streamedSha256 ? new Uint8Array(0) : await readBodyBytes(c.req.raw, bodyBytesMax);
  const { method, url, raw: { headers } } = c.req;
  const request = { method, url, headers, body, streamedSha256 };
  const refuse = (outcome: AgentSignatureRefused): never => {
    span.setAttribute(names.ATTR_AGENT_SIGNATURE_OUTCOME, outcome.reason);
    telemetry.agentSignatureRefusals.add(1, {
      ...base,
      [names.ATTR_AGENT_SIGNATURE_OUTCOME]: outcome.reason,
    });
    const { slug, detail, headers } = signatureRefusal(outcome);
    throw new Problem(slug, detail, headers);
  };
  const checked = await checkAgentSignature(request, { nowMs, agent });
  if (!checked.ok) return refuse(checked);
  const authority = new URL(c.req.url).host.toLowerCase();
  if (check.authorities.length > 0 && !check.authorities.includes(authority)) {
    throw new Problem(
      "unauthorized",
      `This request is signed for ${authority}; this region is ${check.authorities[0]}`,
    );
  }
  const claimed = await claimAgentNonce(
    checked,
    (nonce, ttlMs, atMs) => store.claimNonce(nonce, ttlMs, atMs),
    nowMs,
  );
  if (!claimed.ok) return refuse(claimed);
  span.setAttribute(names.ATTR_AGENT_SIGNATURE_OUTCOME, "verified");
  return { verified: claimed, body };
}

/** Whether the request carries an RFC 9421 signature at all. */
export function isSigned(c: Context): boolean {
  return c.req.header("signature-input") !== undefined || c.req.header("signature") !== undefined;
}
