/**
 * Small scripted HTTP(S) servers on 127.0.0.1 for registry client tests: each records the
 * requests it saw and answers through a handler the test writes.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { requireTool } from '../support/tools.ts';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
}

export interface FakeServer {
  /** `http://127.0.0.1:PORT` or `https://...`. */
  readonly url: string;
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, server: FakeServer) => void;

export interface TestTls {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI. */
export async function makeTestTls(): Promise<TestTls> {
  const openssl = requireTool('openssl');
  const dir = await mkdtemp(path.join(tmpdir(), 'countersign-fake-tls-'));
  const f = (name: string) => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc'];
  try {
    await execa(openssl, [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      f('ca.key'),
      '-out',
      f('ca.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=countersign fake CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign',
    ]);
    await execa(openssl, ['req', ...ec, '-keyout', f('s.key'), '-out', f('s.csr'), '-subj', '/CN=127.0.0.1']);
    await writeFile(f('s.ext'), 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n');
    await execa(openssl, [
      'x509',
      '-req',
      '-in',
      f('s.csr'),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      f('s.ext'),
      '-out',
      f('s.crt'),
    ]);
    return {
      caPem: await readFile(f('ca.pem'), 'utf8'),
      certPem: await readFile(f('s.crt'), 'utf8'),
      keyPem: await readFile(f('s.key'), 'utf8'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function startFakeServer(handler: Handler, tls?: TestTls): Promise<FakeServer> {
  const requests: SeenRequest[] = [];
  const holder: { self?: FakeServer } = {};
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (holder.self) handler(req, res, holder.self);
  };
  const server: Server = tls
    ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, listener)
    : createHttpServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  const host = `127.0.0.1:${address.port}`;
  const self: FakeServer = {
    url: `${tls ? 'https' : 'http'}://${host}`,
    host,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
  holder.self = self;
  return self;
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = await startFakeServer(() => undefined);
  const port = Number(s.host.split(':')[1]);
  await s.close();
  return port;
}
