// `warden watch` implementation (in progress).
export async function runWatch(_opts: Record<string, unknown>): Promise<number> {
  process.stderr.write('warden watch: not implemented yet\n');
  return 1;
}
