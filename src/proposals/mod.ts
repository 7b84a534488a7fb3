/** The public face of src/proposals/: proposals and Byzantine-safe tallies (docs/protocol.md §24). */
export * from "./announcer.ts";
export * from "./book.ts";
export * from "./electorate.ts";
export * from "./routes.ts";
export * from "./tally.ts";
export * from "./tally_access.ts";
