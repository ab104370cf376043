// `warden replay` implementation (in progress).
export async function runReplay(_file: string, _opts: Record<string, unknown>): Promise<number> {
  process.stderr.write('warden replay: not implemented yet\n');
  return 1;
}
