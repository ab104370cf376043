// The egress suite again, every run on the Node path (WARDEN_FAST=0): egress-run.test.ts itself
// runs allowlist sandboxes through the fast path (native launcher entering the namespace the
// supervisor made) wherever the launcher is built, the default; this file keeps the Node path's
// own way in (`nsenter`) proven.
process.env.WARDEN_FAST = '0';
await import('./egress-run.test.js');
