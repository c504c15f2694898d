/**
 * Running the appliance: open the data directory, load the configuration, build the app, listen.
 * Start and stop are audit entries (`system`), so the trail shows when the appliance was up.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { CountersignError } from '../errors.ts';
import { createApp } from './app.ts';
import { createAppliance } from './appliance.ts';
import type { Appliance } from './appliance.ts';
import { openApplianceData } from './data.ts';

export interface ServeOptions {
  readonly configDir: string;
  readonly dataDir?: string;
  /** Overrides settings.server.host / port. */
  readonly host?: string;
  readonly port?: number;
  readonly layoutRoots?: readonly string[];
  readonly readOnlyConfig?: boolean;
  readonly softwareVersion: string;
  readonly logger: Logger;
}

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly appliance: Appliance;
  /** `http(s)://host:port` actually bound (port 0 resolved). */
  readonly url: string;
  close(): Promise<void>;
}

function readTlsFile(configDir: string, file: string, what: string): string {
  try {
    return readFileSync(path.resolve(configDir, file), 'utf8');
  } catch (e: unknown) {
    throw new CountersignError('CONFIG_INVALID', `server.tls.${what}: cannot read ${file}`, { cause: e });
  }
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const configDir = path.resolve(options.configDir);
  const data = openApplianceData({
    dataDir: options.dataDir ?? path.join(configDir, 'data'),
    softwareVersion: options.softwareVersion,
  });
  let app: FastifyInstance | undefined;
  try {
    const appliance = await createAppliance({
      configDir,
      audit: data.audit,
      tokens: data.tokens,
      key: data.key,
      softwareVersion: options.softwareVersion,
      ...(options.layoutRoots === undefined ? {} : { layoutRoots: options.layoutRoots }),
      ...(options.readOnlyConfig === undefined ? {} : { readOnlyConfig: options.readOnlyConfig }),
    });
    const settings = appliance.current().config.settings;
    const tls = settings.server.tls;
    const https =
      tls === undefined
        ? undefined
        : {
            cert: readTlsFile(configDir, tls.cert, 'cert'),
            key: readTlsFile(configDir, tls.key, 'key'),
            // With a client CA every client must present a certificate it issued (§11.10(h)).
            ...(tls.clientCa === undefined
              ? {}
              : {
                  ca: readTlsFile(configDir, tls.clientCa, 'clientCa'),
                  requestCert: true,
                  rejectUnauthorized: true,
                }),
          };
    const created = await createApp({
      appliance,
      logger: options.logger,
      ...(https === undefined ? {} : { https }),
    });
    app = created;
    created.addHook('onClose', async () => {
      // Queued decision entries are committed before the stop entry and before the database closes.
      await appliance.close();
      try {
        appliance.record({ kind: 'system', actor: 'countersign', payload: { event: 'stop' } });
      } catch (e: unknown) {
        created.log.error({ err: e }, 'could not record the shutdown');
      }
      data.close();
    });
    const host = options.host ?? settings.server.host;
    const port = options.port ?? settings.server.port;
    await created.listen({ host, port });
    const address = created.server.address();
    const boundPort = typeof address === 'object' && address !== null ? address.port : port;
    const url = `${https === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${String(boundPort)}`;
    appliance.record({
      kind: 'system',
      actor: 'countersign',
      payload: {
        event: 'start',
        url,
        tls: https !== undefined,
        clientCertificates: tls?.clientCa !== undefined,
        configVersion: appliance.current().config.version,
        files: appliance.current().config.files.map((f) => ({ path: f.path, contentHash: f.contentHash })),
        layoutRoots: appliance.current().layoutRoots,
      },
    });
    return { app: created, appliance, url, close: () => created.close() };
  } catch (e: unknown) {
    if (app === undefined) data.close();
    else await app.close();
    throw e;
  }
}
