// `warden doctor` implementation (in progress).
export async function runDoctor(_opts: Record<string, unknown>): Promise<number> {
  process.stderr.write('warden doctor: not implemented yet\n');
  return 1;
}
