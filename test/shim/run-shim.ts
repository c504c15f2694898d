/** Runs the shim as Mercure does: a child process, argv and environment, exit status and output. */
import { execFile } from 'node:child_process';
import path from 'node:path';

const MAIN = path.join(import.meta.dirname, '../../src/shim/main.ts');

export interface ShimRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly elapsedMs: number;
}

export function runShim(args: readonly string[], env: Readonly<Record<string, string>>): Promise<ShimRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      // A clean environment: nothing from the test runner's shell can select a policy or a token.
      { env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr, elapsedMs: Date.now() - started });
      },
    );
  });
}
