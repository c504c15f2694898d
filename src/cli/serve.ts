/**
 * `countersign serve`: the appliance's HTTP API.
 *
 *   countersign serve [--config DIR] [--host H] [--port P] [--layout-root DIR ...] [--log-level L]
 *
 * DIR holds keys/, trust-root/, policies/, an optional countersign.yaml and data/ (the audit
 * database and the appliance key). Without --config the embedded demo configuration is used
 * (read-only) with data under ./data. Logs (JSON, pino) go to stderr; SIGTERM or SIGINT close
 * the server gracefully: requests in flight are answered, then the stop is recorded.
 */
import { parseCommandArgs } from './args.ts';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LevelWithSilent } from 'pino';
import { CountersignError, exitCodeFor, toCountersignError } from '../errors.ts';
import { createLogger } from '../server/app.ts';
import { dataDirOf } from '../config/load.ts';
import { startServer } from '../server/server.ts';
import type { CliIO } from './io.ts';
import { processIO } from './io.ts';

/** The demo configuration shipped in the source tree (see its README). */
export const DEMO_CONFIG_DIR = fileURLToPath(new URL('../config/demo/', import.meta.url));

const USAGE = `usage: countersign serve [--config DIR] [--host H] [--port P] [--layout-root DIR ...] [--log-level L]

  --config DIR        configuration directory (keys/, trust-root/, policies/, countersign.yaml, data/);
                      default: the embedded demo configuration, data in ./data
  --host H            address to bind (default 127.0.0.1, or server.host)
  --port P            port (default 8080, or server.port; 0 picks a free one)
  --layout-root DIR   directory oci: references may be read from (repeatable)
  --log-level L       fatal, error, warn, info (default), debug, trace or silent
`;

const LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function usage(message: string): CountersignError {
  return new CountersignError('USAGE', `${message}\n${USAGE}`);
}

function parse(args: string[]) {
  return parseCommandArgs(
    {
      args,
      allowPositionals: false,
      strict: true,
      options: {
        config: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        'layout-root': { type: 'string', multiple: true },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    USAGE,
  ).values;
}

export interface ServeSignals {
  /** Resolves with the signal's name when the server should stop. */
  readonly stopped: Promise<string>;
}

function processSignals(): ServeSignals {
  return {
    stopped: new Promise((resolve) => {
      const stop = (signal: string): void => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        resolve(signal);
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    }),
  };
}

export async function run(
  args: string[],
  io: CliIO,
  signals: ServeSignals = processSignals(),
): Promise<number> {
  const v = parse(args);
  if (v.help === true) {
    io.stdout(USAGE);
    return 0;
  }
  let port: number | undefined;
  if (v.port !== undefined) {
    if (!/^[0-9]{1,5}$/.test(v.port) || Number(v.port) > 65535) throw usage('--port must be 0 to 65535');
    port = Number(v.port);
  }
  const level = v['log-level'] ?? 'info';
  const logLevel = LEVELS.find((l) => l === level);
  if (logLevel === undefined) throw usage(`--log-level must be one of ${LEVELS.join(', ')}`);
  const demo = v.config === undefined;
  const configDir = demo ? DEMO_CONFIG_DIR : path.resolve(io.cwd, v.config ?? '.');
  const dataDir = demo ? path.resolve(io.cwd, 'data') : dataDirOf(configDir);
  const server = await startServer({
    configDir,
    dataDir,
    ...(v.host === undefined ? {} : { host: v.host }),
    ...(port === undefined ? {} : { port }),
    layoutRoots: (v['layout-root'] ?? []).map((r) => path.resolve(io.cwd, r)),
    readOnlyConfig: demo,
    softwareVersion: io.version,
    logger: createLogger({ level: logLevel }),
  });
  io.stdout(
    `countersign ${io.version} listening on ${server.url}\n` +
      `  configuration: ${demo ? 'embedded demo (read-only)' : configDir} (${server.appliance.current().config.version})\n` +
      `  audit trail: ${path.join(dataDir, 'audit.db')}\n`,
  );
  const signal = await signals.stopped;
  io.stdout(`countersign: ${signal}, closing\n`);
  await server.close();
  io.stdout('countersign: stopped\n');
  return 0;
}

if (import.meta.main) {
  const io = processIO();
  try {
    process.exitCode = await run(process.argv.slice(2), io);
  } catch (e: unknown) {
    const err = toCountersignError(e);
    io.stderr(`countersign serve: ${err.message} [${err.code}]\n`);
    process.exitCode = exitCodeFor(err.code);
  }
}
