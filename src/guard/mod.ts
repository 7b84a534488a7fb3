/** The public face of src/guard/: what other folders may use. Files starting with _ stay private. */
export * from "./address_slots.ts";
export * from "./admission.ts";
export * from "./certificates.ts";
export * from "./channel_follower.ts";
export * from "./client_address.ts";
export * from "./http_signature.ts";
export * from "./quarantine.ts";
export * from "./rate_limiter.ts";
export * from "./read_access.ts";
export * from "./reputation.ts";
export * from "./token_reserve.ts";
