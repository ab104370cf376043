// Failures whose message says everything a user needs (what, where, what to do): the CLI
// prints them without a stack trace and exits 1. Stack traces stay for real bugs.
export class PlainError extends Error {}
