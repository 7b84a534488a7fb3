/**
 * Which client a push is charged to: the remote address the runtime's adapter knows (Deno's
 * connection info, the header Cloudflare or Vercel sets), or, behind a trusted proxy, the first
 * `X-Forwarded-For` entry. And the subject an address is
 * limited as: IPv6 addresses by their /64 (one host usually holds a whole /64, so limiting single
 * addresses would let it rotate through 2^64 fresh buckets).
 */
import type { Context } from "hono";

/** The address of a request whose connection is unknown (e.g. `app.request()` in tests). */
export const UNKNOWN_CLIENT_ADDRESS = "unknown";
/** Longest address kept (a forwarded header is client-controlled text), in characters. */
export const CLIENT_ADDRESS_CHARS_MAX = 100;

/** Picks the client address of a request. */
export type ClientAddressFn = (c: Context) => string;

/** The client's address as the runtime knows it, if it does (given by the runtime's adapter). */
export type RemoteAddressFn = (c: Context) => string | undefined;

/**
 * The default {@linkcode ClientAddressFn}. With `trustProxy`, the first `X-Forwarded-For` entry
 * when the header is present — only safe behind a proxy that overwrites the header (one that
 * appends to it leaves the first entry to the client). Else what `remote` says (the adapter's),
 * else the `remoteAddr` of the handler's second argument when the server passed one (`Deno.serve`
 * and `deno serve` do: Hono's `c.env`), else "unknown".
 */
export function defaultClientAddress(
  trustProxy: boolean,
  remote: RemoteAddressFn = serverRemoteAddress,
): ClientAddressFn {
  return (c) => {
    if (trustProxy) {
      const first = c.req.header("x-forwarded-for")?.split(",")[0].trim();
      if (first) return first.slice(0, CLIENT_ADDRESS_CHARS_MAX);
    }
    return remote(c)?.slice(0, CLIENT_ADDRESS_CHARS_MAX) || UNKNOWN_CLIENT_ADDRESS;
  };
}

/** `remoteAddr.hostname` of the connection info a server passed as the handler's second argument. */
export function serverRemoteAddress(c: Context): string | undefined {
  const env = c.env as { remoteAddr?: { hostname?: unknown } } | undefined;
  const hostname = env?.remoteAddr?.hostname;
  return typeof hostname === "string" ? hostname : undefined;
}

/**
 * The subject an address is rate limited and scored as: an IPv4 address as is (also when written
 * IPv4-mapped, `::ffff:a.b.c.d`), an IPv6 address as its /64 (`2001:db8:0:1::/64`), anything else
 * lower-cased and cut to {@linkcode CLIENT_ADDRESS_CHARS_MAX} characters.
 */
export function addressSubject(address: string): string {
  const text = address.trim().toLowerCase().slice(0, CLIENT_ADDRESS_CHARS_MAX);
  const hextets = text.includes(":") ? ipv6Hextets(text) : null;
  if (hextets === null) return text || UNKNOWN_CLIENT_ADDRESS;
  if (hextets.slice(0, 5).every((h) => h === 0) && hextets[5] === 0xffff) {
    return [hextets[6] >> 8, hextets[6] & 0xff, hextets[7] >> 8, hextets[7] & 0xff].join(".");
  }
  return `${hextets.slice(0, 4).map((h) => h.toString(16)).join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (brackets and zone allowed), or null. */
function ipv6Hextets(address: string): number[] | null {
  let text = address.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  const v4 = /(^|:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4 !== null) {
    const bytes = v4.slice(2, 6).map(Number);
    if (bytes.some((b) => b > 255)) return null;
    const tail = `${((bytes[0] << 8) | bytes[1]).toString(16)}:${
      ((bytes[2] << 8) | bytes[3]).toString(16)
    }`;
    text = text.slice(0, text.length - v4[0].length + v4[1].length) + tail;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string) => s === "" ? [] : s.split(":");
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return all.map((g) => parseInt(g, 16));
}
