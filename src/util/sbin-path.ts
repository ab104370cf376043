// The network tools egress drives (nft, ip, conntrack) live in /usr/sbin and /sbin, which
// Debian and most distributions leave out of an unprivileged user's PATH: without this the
// rootless design failed with "nft: not found" while nft was installed.

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** PATH with the sbin directories appended when missing (the caller's own order first). */
export function withSbin(pathVar: string | undefined): string {
  const parts = (pathVar ?? '').split(':').filter(Boolean);
  for (const d of SBIN) if (!parts.includes(d)) parts.push(d);
  return parts.join(':');
}

/** An environment for spawning those tools: the given one with withSbin(PATH). */
export function toolEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PATH: withSbin(env.PATH) };
}
