// The escape suite again, every run on the Node path (WARDEN_FAST=0): sandbox-escape.test.ts
// itself runs on the fast path (native launcher + supervisor) wherever the launcher is built,
// the default; this file keeps the path without them (no launcher built, WARDEN_FAST=0) proven.
process.env.WARDEN_FAST = '0';
await import('./sandbox-escape.test.js');
