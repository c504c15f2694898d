#!/usr/bin/env node
/**
 * Process entry of countersign-cosign (installed as `cosign`): binds the shim to the real process.
 * Runs on import, so that bin/countersign-cosign.js can load the compiled copy.
 */
import { readFileSync } from 'node:fs';
import { runCosignShim } from './cosign.ts';
import type { ShimIO } from './cosign.ts';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

const io: ShimIO = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
  readFile: (p) => {
    const text = readFileSync(p, 'utf8');
    if (text.length > 1024 * 1024) throw new Error(`${p} is larger than 1 MiB`);
    return text;
  },
  version: packageVersion(),
  platform: `${process.platform}/${process.arch}`,
  runtime: `Node.js ${process.version}`,
};

process.exitCode = await runCosignShim(process.argv.slice(2), io);
