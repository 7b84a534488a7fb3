/**
 * RFC 9457 problem details: the one shape of every whole-request error. Handlers throw
 * `Problem`; the app's error handler turns it (and store outages) into `application/problem+json`.
 */

/** Problem types of the region API; each `type` URI is `urn:mesh:problem:<slug>`. */
export const PROBLEMS = {
  "malformed-request": { status: 400, title: "Malformed request" },
  "invalid-request": {
    status: 400,
    title: "Request does not match the API schema",
  },
  unauthorized: { status: 401, title: "Signed agent request required" },
  "token-required": { status: 401, title: "Operator bearer token required" },
  forbidden: { status: 403, title: "Not allowed for this requester" },
  "region-refused": { status: 403, title: "Region message refused" },
  "not-found": { status: 404, title: "Not found" },
  "method-not-allowed": { status: 405, title: "Method not allowed" },
  "not-acceptable": { status: 406, title: "Not acceptable" },
  "stale-message": { status: 409, title: "Region message stale or replayed" },
  "payload-too-large": { status: 413, title: "Request too large" },
  "unsupported-media-type": { status: 415, title: "Unsupported media type" },
  "range-not-satisfiable": { status: 416, title: "Range not satisfiable" },
  "blob-mismatch": { status: 422, title: "Blob does not match its hash" },
  "header-too-large": { status: 431, title: "Request header fields too large" },
  "rate-limited": { status: 429, title: "Too many requests" },
  "store-unavailable": { status: 503, title: "Regional store unavailable" },
  "internal-error": { status: 500, title: "Internal error" },
} as const;

export type ProblemSlug = keyof typeof PROBLEMS;

export class Problem extends Error {
  readonly slug: ProblemSlug;
  readonly headers: Record<string, string>;

  constructor(
    slug: ProblemSlug,
    detail: string,
    headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = "Problem";
    this.slug = slug;
    this.headers = headers;
  }

  get status(): number {
    return PROBLEMS[this.slug].status;
  }

  /** The problem+json response, with `instance` set to the request path. */
  toResponse(instance: string): Response {
    const { status, title } = PROBLEMS[this.slug];
    const body = {
      type: `urn:mesh:problem:${this.slug}`,
      title,
      status,
      detail: this.message,
      instance,
    };
    return new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/problem+json", ...this.headers },
    });
  }
}

/** The 429 of a client address that holds `max` open `what` here already (AddressSlots). */
export function refuseSlot(what: string, max: number): never {
  throw new Problem(
    "rate-limited",
    `This address holds ${max} ${what} here already; close one first`,
    {
      "retry-after": "5",
    },
  );
}

/** The 429 of an instance that holds its most open `what` already (every client's together). */
export function refuseFull(what: string): never {
  throw new Problem("rate-limited", `This instance holds its most ${what}; retry later`, {
    "retry-after": "5",
  });
}
