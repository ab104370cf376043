// Public surface of egress/: the `allowlist` network mode for `warden run` (transparent proxy,
// DNS responder, nft plumbing). cli/run.ts lazy-imports this module.
export { allowlistProvider, cleanupStale, createAllowlistProvider, type AllowlistOptions } from './provider.js';
export { checkAllowEntry, parseAllowEntry, Policy, AllowEntryError } from './policy.js';
