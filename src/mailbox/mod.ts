/** The public face of src/mailbox/: direct messages and mailboxes (docs/protocol.md §23). */
export * from "./inbox.ts";
export * from "./routes.ts";
