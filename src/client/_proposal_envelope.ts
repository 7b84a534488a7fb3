/**
 * Checking a proposal's signed envelope offline (docs/protocol.md §24.2): shared by the tally
 * reader's check (`verifyProposalAnswer`) and the signed-proposal reader, so a region need not be
 * trusted for what a proposal says.
 */
import { type Proposal, proposalOf, PROPOSALS_CHANNEL } from "../protocol/proposal.ts";
import { decodeBase64Url } from "../protocol/base64url.ts";
import { deltaId, signedMessage } from "../protocol/delta.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import { verifyEd25519 } from "../crypto/ed25519.ts";
import type { Envelope } from "./_http.ts";

/**
 * The proposal `envelope` holds, with defaults filled in, when it is a `_proposals` delta whose
 * id is `id` and whose author's signature verifies; else null (a lying region, or not one).
 */
export async function verifiedProposal(
  id: string,
  envelope: Envelope | null | undefined,
): Promise<Proposal | null> {
  if (typeof envelope?.body !== "string" || typeof envelope.sig !== "string") return null;
  const bytes = utf8Encode(envelope.body);
  if (deltaId(bytes) !== id) return null;
  let signed: Proposal | null;
  let channel: unknown;
  try {
    channel = (JSON.parse(envelope.body) as { channel?: unknown } | null)?.channel;
    signed = proposalOf({ id, body: envelope.body });
  } catch {
    return null; // not a delta body at all
  }
  if (signed === null || channel !== PROPOSALS_CHANNEL) return null;
  const signature = decodeBase64Url(envelope.sig);
  const key = decodeBase64Url(signed.author);
  if (signature === null || key === null) return null;
  return await verifyEd25519(key, signature, signedMessage(bytes)) ? signed : null;
}
