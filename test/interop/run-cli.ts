/**
 * Runs `countersign verify ... --output json` in-process through main(), as a user would from a
 * shell, and returns the exit code with the parsed outcome.
 */
import assert from 'node:assert/strict';
import { main } from '../../src/cli/main.ts';
import type { CliIO } from '../../src/cli/io.ts';
import type { VerificationOutcome } from '../../src/decision/verify-image.ts';

export interface VerifyRun {
  readonly exit: number;
  /** The JSON outcome; undefined when the command failed before deciding (usage errors). */
  readonly outcome: VerificationOutcome | undefined;
  readonly stderr: string;
}

export async function verifyCli(cwd: string, ...args: string[]): Promise<VerifyRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: {},
    cwd,
    version: '0.0.0-test',
  };
  const exit = await main(['verify', ...args, '--output', 'json'], io);
  assert.doesNotMatch(stderr + stdout, /\n\s+at .+:\d+:\d+/, 'output contains a stack trace');
  const outcome = stdout === '' ? undefined : (JSON.parse(stdout) as VerificationOutcome);
  return { exit, outcome, stderr };
}

/** Asserts an allow and returns the outcome. */
export function assertAllowed(r: VerifyRun, digest: string): VerificationOutcome {
  const o = r.outcome;
  assert.ok(o, `no outcome: ${r.stderr}`);
  assert.equal(r.exit, 0, `${o.code ?? ''}: ${o.explanation}`);
  assert.equal(o.allowed, true);
  assert.equal(o.digest, digest);
  assert.equal(o.pinned, `${o.name ?? ''}@${digest}`);
  return o;
}

/** Asserts a denial with its exit code and reason code. */
export function assertDenied(r: VerifyRun, exit: number, code: string): VerificationOutcome {
  const o = r.outcome;
  assert.ok(o, `no outcome: ${r.stderr}`);
  assert.equal(o.allowed, false);
  assert.equal(o.code, code, o.explanation);
  assert.equal(r.exit, exit);
  return o;
}
