/**
 * Every limit of wire format v1, in one place, with its unit last in the name.
 *
 * These are part of the protocol contract (docs/protocol.md lists them): a client that respects
 * them is never rejected for size, and every region enforces exactly these values.
 */

/** Largest delta body, in UTF-8 bytes of the body text as signed. */
export const DELTA_BODY_BYTES_MAX = 16_384;
/** Most ops one delta may carry. */
export const DELTA_OPS_MAX = 64;
/** Largest map key, set name or counter name, in UTF-8 bytes. */
export const KEY_BYTES_MAX = 256;
/** Largest set element, in UTF-8 bytes. */
export const ELEMENT_BYTES_MAX = 1_024;
/** Most add tags one `rmv` op may name. */
export const RMV_TAGS_MAX = 256;
/** Deepest nesting of arrays/objects inside a `set` value (a scalar is depth 0). */
export const VALUE_DEPTH_MAX = 16;
/** Largest `seq`; also the bound of `ts` and of `|by|` (JavaScript's exact-integer range). */
export const INTEGER_MAX = Number.MAX_SAFE_INTEGER;
/** Largest logical counter `lc` of the hybrid logical clock. */
export const HLC_COUNTER_MAX = 0xffff_ffff;
/** How far a delta's `ts` may lie ahead of the receiving region's clock, in milliseconds. */
export const CLOCK_SKEW_FUTURE_MS_MAX = 60_000;
/** Most deltas in one `POST /v1/deltas` request. */
export const PUSH_DELTAS_MAX = 256;
/** Largest `POST /v1/deltas` request body, in bytes. */
export const PUSH_BYTES_MAX = 2_097_152;
/** Largest page of `GET /v1/channels/{channel}/deltas`, in deltas. */
export const TAIL_LIMIT_MAX = 1_000;
/** Longest `wait` of a long-poll (topic messages, a view, a tail read), in seconds. */
export const LONG_POLL_WAIT_S_MAX = 30;
/** Default page of `GET /v1/channels/{channel}/deltas` when `limit` is absent, in deltas. */
export const TAIL_LIMIT_DEFAULT = 100;
/** Longest channel name, in characters (the alphabet is ASCII). */
export const CHANNEL_CHARS_MAX = 64;

/**
 * Channel names: ASCII letters, digits and `._:-`; a leading `_` is reserved for the system.
 * `.` and `..` are refused: URL clients resolve them as dot segments (`/v1/channels/./deltas` is
 * sent as `/v1/channels/deltas`), so such a channel could never be read by its own name.
 */
export const CHANNEL_PATTERN = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,64}$/;
/** The channel name rule in words, for error details. */
export const CHANNEL_RULE = "[A-Za-z0-9._:-]{1,64}, and not . or ..";

/** Agent ids and delta ids: 32 bytes as unpadded base64url (43 chars, last one 4 bits of zeros). */
export const ID_PATTERN_SOURCE = "[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]";

/** Domain tag prefixed to a delta body before signing. */
export const DELTA_SIGNATURE_TAG = "mesh.delta.v1:";

// A whole push of maximal deltas (each body escaped at most 6x as a JSON string, e.g. control
// characters as \u00XX) must not be smaller than one maximal delta, or a legal delta could never
// be sent.
if (PUSH_BYTES_MAX < DELTA_BODY_BYTES_MAX * 6 + 256) {
  throw new Error("PUSH_BYTES_MAX must hold at least one maximal delta");
}
if (TAIL_LIMIT_DEFAULT > TAIL_LIMIT_MAX) {
  throw new Error("TAIL_LIMIT_DEFAULT must not exceed TAIL_LIMIT_MAX");
}
if (CHANNEL_PATTERN.source.indexOf(`{1,${CHANNEL_CHARS_MAX}}`) < 0) {
  throw new Error("CHANNEL_PATTERN must bound names by CHANNEL_CHARS_MAX");
}

/** A region id: lowercase letters, digits and `-`, 1 to 32 characters, not starting with `-`. */
export const REGION_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
