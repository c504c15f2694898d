/**
 * A real `countersign serve` in a child process (node src/cli/main.ts), for the tests and the
 * benchmark that need one: a configuration directory with an in-process P-256 key and a default
 * policy, a verifier token made beforehand, and the URL read from the process's first line.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { openApplianceData } from '../../src/server/data.ts';
import { projectRoot } from '../support/tools.ts';
import { DEFAULT_POLICY, p256Key } from './fixtures.ts';
import type { TestKeyPair } from './fixtures.ts';

export const MAIN = path.join(projectRoot, 'src', 'cli', 'main.ts');

export interface ServeConfig {
  readonly configDir: string;
  readonly layouts: string;
  readonly key: TestKeyPair;
  /** A verifier token named `mercure`. */
  readonly token: string;
}

/** Writes DIR with keys/vendor.pub, policies/default.yaml and countersign.yaml, and a verifier token. */
export function prepareServeConfig(root: string, settingsYaml = ''): ServeConfig {
  const configDir = path.join(root, 'config');
  const layouts = path.join(root, 'layouts');
  const key = p256Key();
  mkdirSync(path.join(configDir, 'keys'), { recursive: true });
  mkdirSync(path.join(configDir, 'policies'), { recursive: true });
  mkdirSync(layouts, { recursive: true });
  writeFileSync(path.join(configDir, 'keys', 'vendor.pub'), key.publicPem);
  writeFileSync(path.join(configDir, 'policies', 'default.yaml'), DEFAULT_POLICY);
  writeFileSync(path.join(configDir, 'countersign.yaml'), settingsYaml);
  const data = openApplianceData({ dataDir: path.join(configDir, 'data'), softwareVersion: 'test-setup' });
  try {
    const token = data.tokens.create({ name: 'mercure', role: 'verifier', createdBy: 'test' }).token;
    return { configDir, layouts, key, token };
  } finally {
    data.close();
  }
}

export interface ServeProcess {
  readonly url: string;
  readonly proc: ChildProcessByStdio<null, Readable, Readable>;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

/**
 * Starts `countersign serve --config DIR --port 0 --log-level L ...args` (L: warn unless given;
 * its logs go to stderr, kept in memory) and waits for its listening line.
 */
export async function spawnServe(
  configDir: string,
  args: readonly string[] = [],
  logLevel = 'warn',
): Promise<ServeProcess> {
  const proc = spawn(
    process.execPath,
    [MAIN, 'serve', '--config', configDir, '--port', '0', '--log-level', logLevel, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  proc.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  proc.stderr.on('data', (c: Buffer) => {
    // The tail is enough to explain a failure; per-request logs of a benchmark would be megabytes.
    err = (err + c.toString('utf8')).slice(-65_536);
  });
  const exited = new Promise<number | null>((resolve) => {
    proc.on('exit', (code) => {
      resolve(code);
    });
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`serve printed no listening line: ${out} ${err}`));
    }, 30_000);
    const check = (): void => {
      const m = /listening on (https?:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        proc.stdout.off('data', check);
        resolve(m[1]);
      }
    };
    proc.stdout.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${String(code)}) before listening: ${err}`));
    });
  });
  return { url, proc, exited, stdout: () => out, stderr: () => err };
}
