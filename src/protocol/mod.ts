/** The public face of src/protocol/: what other folders may use. Files starting with _ stay private. */
export * from "./agent_card.ts";
export * from "./base64url.ts";
export * from "./blob_ref.ts";
export * from "./canonical_json.ts";
export * from "./certificate.ts";
export * from "./delta.ts";
export * from "./duplicate_keys.ts";
export * from "./envelope.ts";
export * from "./equivocation.ts";
export * from "./fingerprint.ts";
export * from "./limits.ts";
export * from "./message_kinds.ts";
export * from "./message_wire.ts";
export * from "./proposal.ts";
export * from "./result.ts";
export * from "./signature_base.ts";
export * from "./utf8.ts";
