/**
 * Runs the sigstore-conformance offline bundle verification cases (../shared/fixtures beside the
 * project) through the real CLI, each case twice: with the artifact path and with its `sha256:`
 * digest. A case whose name ends in `_fail` must fail. Prints each unexpected outcome and a total;
 * exits non-zero if any outcome was unexpected.
 *
 *   node scripts/conformance-sigstore.ts [--filter SUBSTRING] [--verbose]
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const DEFAULT_IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const DEFAULT_ISSUER = 'https://token.actions.githubusercontent.com';
const PARALLELISM = 2;

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = join(projectRoot, '..', 'shared', 'fixtures');
const casesDir = join(fixtures, 'sigstore-conformance', 'bundle-verify');
const publicGood = join(fixtures, 'trusted-roots', 'public-good.json');
const mainCli = join(projectRoot, 'src', 'cli', 'main.ts');

interface Run {
  readonly name: string;
  readonly mode: 'path' | 'digest';
  readonly args: readonly string[];
  readonly expectSuccess: boolean;
}

interface Outcome {
  readonly run: Run;
  readonly exitCode: number;
  readonly stderr: string;
}

function cliCommand(): readonly string[] {
  return [mainCli, 'verify-bundle'];
}

function readOptional(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

function buildRuns(filter: string | undefined): Run[] {
  const runs: Run[] = [];
  const names = readdirSync(casesDir)
    .filter((n) => statSync(join(casesDir, n)).isDirectory())
    .filter((n) => filter === undefined || n.includes(filter))
    .sort();
  for (const name of names) {
    const dir = join(casesDir, name);
    const artifactPath = existsSync(join(dir, 'artifact')) ? join(dir, 'artifact') : join(casesDir, 'a.txt');
    const trustedRoot = existsSync(join(dir, 'trusted_root.json'))
      ? join(dir, 'trusted_root.json')
      : publicGood;
    const keyPath = join(dir, 'key.pub');
    const materialArgs = existsSync(keyPath)
      ? ['--key', keyPath]
      : [
          '--certificate-identity',
          readOptional(join(dir, 'identity')) ?? DEFAULT_IDENTITY,
          '--certificate-oidc-issuer',
          readOptional(join(dir, 'issuer')) ?? DEFAULT_ISSUER,
        ];
    const base = [
      '--bundle',
      join(dir, 'bundle.sigstore.json'),
      ...materialArgs,
      '--trusted-root',
      trustedRoot,
    ];
    const digest = `sha256:${createHash('sha256').update(readFileSync(artifactPath)).digest('hex')}`;
    const expectSuccess = !name.endsWith('_fail');
    runs.push({ name, mode: 'path', args: [...base, artifactPath], expectSuccess });
    runs.push({ name, mode: 'digest', args: [...base, digest], expectSuccess });
  }
  return runs;
}

function execute(command: readonly string[], run: Run): Promise<Outcome> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [...command, ...run.args], { timeout: 60_000 }, (error, _stdout, stderr) => {
      const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : 99;
      resolvePromise({ run, exitCode, stderr });
    });
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { filter: { type: 'string' }, verbose: { type: 'boolean' } },
  });
  if (!existsSync(casesDir)) {
    process.stderr.write('conformance fixtures not found beside the project (../shared/fixtures)\n');
    return 2;
  }
  const command = cliCommand();
  const runs = buildRuns(values.filter);
  const outcomes: Outcome[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const run = runs[next++];
      if (run === undefined) return;
      outcomes.push(await execute(command, run));
    }
  };
  await Promise.all(Array.from({ length: PARALLELISM }, worker));
  outcomes.sort((a, b) => a.run.name.localeCompare(b.run.name) || a.run.mode.localeCompare(b.run.mode));

  let passed = 0;
  let failed = 0;
  for (const o of outcomes) {
    const succeeded = o.exitCode === 0;
    const crashed = o.exitCode !== 0 && (!/\[[A-Z_]+\]/.test(o.stderr) || o.stderr.includes('[INTERNAL]'));
    const asExpected = succeeded === o.run.expectSuccess && !crashed;
    const detail = o.stderr.trim().split('\n')[0] ?? '';
    if (asExpected) {
      passed++;
      if (values.verbose === true) {
        process.stdout.write(`ok   ${o.run.name} (${o.run.mode})${succeeded ? '' : `: ${detail}`}\n`);
      }
    } else {
      failed++;
      const want = o.run.expectSuccess ? 'success' : 'failure';
      const got = crashed
        ? `crash (exit ${o.exitCode})`
        : succeeded
          ? 'success'
          : `failure (exit ${o.exitCode})`;
      process.stdout.write(
        `FAIL ${o.run.name} (${o.run.mode}): expected ${want}, got ${got}${detail === '' ? '' : `: ${detail}`}\n`,
      );
    }
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
