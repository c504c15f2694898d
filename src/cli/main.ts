#!/usr/bin/env node
/**
 * countersign command line: dispatches to one module per command. Each command module exports
 * `run(args, io)` returning the process exit code; nothing below here calls process.exit.
 */
import { CountersignError, exitCodeFor, toCountersignError } from '../errors.ts';
import type { CliIO } from './io.ts';
import { processIO } from './io.ts';

type CommandModule = { run: (args: string[], io: CliIO) => Promise<number> };

const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  verify: {
    summary: 'verify an image against keys, certificates or policies',
    load: () => import('./verify.ts'),
  },
  'verify-bundle': {
    summary: 'verify a Sigstore bundle (conformance protocol)',
    load: () => import('./verify-bundle.ts'),
  },
  'trust-root': {
    summary: 'create, check and import Sigstore trust roots',
    load: () => import('./trust-root.ts'),
  },
  policy: {
    summary: 'lint signer policies, explain which apply to an image',
    load: () => import('./policy.ts'),
  },
  serve: { summary: 'run the appliance HTTP API', load: () => import('./serve.ts') },
  token: { summary: 'create, list and revoke API tokens', load: () => import('./token.ts') },
  audit: { summary: 'verify and inspect the audit trail', load: () => import('./audit.ts') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(16)}${c.summary}`);
  return `usage: countersign <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    io.stdout(`countersign ${io.version}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.stderr(`countersign: unknown command "${name}" [USAGE]\n${usage()}`);
    return 2;
  }
  try {
    const mod = await command.load();
    return await mod.run(rest, io);
  } catch (e: unknown) {
    const err = toCountersignError(e);
    io.stderr(`countersign ${name}: ${err.message} [${err.code}]\n`);
    return err instanceof CountersignError ? exitCodeFor(err.code) : 4;
  }
}

/** Runs the CLI on this process's arguments and streams; sets the exit code. */
export async function runCli(): Promise<void> {
  process.exitCode = await main(process.argv.slice(2), processIO());
}

if (import.meta.main) await runCli();
