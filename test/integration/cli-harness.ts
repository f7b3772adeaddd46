import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BINS = { 'iterable-sync': 'src/cli/main.ts', 'tap-iterable': 'src/cli/tap-iterable.ts' } as const;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Environment for a CLI run: no inherited Iterable settings, fast retries, quick export-job polls,
 * and exports through data.json (the tests' start dates are years back, which `auto` would read
 * through export jobs; the export-jobs tests ask for jobs or auto themselves).
 */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('ITERABLE_')) delete env[key];
  delete env.HTTPS_PROXY;
  delete env.HTTP_PROXY;
  delete env.https_proxy;
  delete env.http_proxy;
  return { ...env, ITERABLE_SYNC_BACKOFF_BASE_MS: '20', ITERABLE_SYNC_BACKOFF_MAX_MS: '300', ITERABLE_SYNC_RATE_LIMIT_SCALE: '0', ITERABLE_EXPORT_MODE: 'stream', ITERABLE_SYNC_JOB_POLL_MIN_MS: '20', ITERABLE_SYNC_JOB_POLL_MAX_MS: '200', ...extra };
}

/** Starts the CLI as a real child process (through tsx, so tests run the current source). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv, bin: keyof typeof BINS = 'iterable-sync'): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', BINS[bin], ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs the CLI to completion and collects its output. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { bin?: keyof typeof BINS; timeoutMs?: number } = {},
): Promise<CliResult> {
  const child = spawnCli(args, env, options.bin);
  return collect(child, options.timeoutMs ?? 120_000);
}

/** Waits for a child to exit, collecting stdout and stderr. */
export function collect(child: ChildProcess, timeoutMs: number): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI timed out after ${timeoutMs} ms\nstderr:\n${stderr.slice(-3000)}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface SingerMessage {
  type: 'SCHEMA' | 'RECORD' | 'STATE';
  stream?: string;
  record?: Record<string, unknown>;
  schema?: Record<string, unknown>;
  key_properties?: string[];
  value?: { bookmarks: Record<string, Record<string, string>> };
}

/** Parses Singer stdout; every line must be a JSON message. */
export function parseSinger(stdout: string): SingerMessage[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as SingerMessage);
}

/** RECORD payloads per stream. */
export function recordsByStream(messages: SingerMessage[]): Map<string, Record<string, unknown>[]> {
  const out = new Map<string, Record<string, unknown>[]>();
  for (const m of messages) {
    if (m.type !== 'RECORD') continue;
    const list = out.get(m.stream!) ?? [];
    list.push(m.record!);
    out.set(m.stream!, list);
  }
  return out;
}
