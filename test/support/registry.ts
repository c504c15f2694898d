/**
 * A real CNCF distribution registry (`docker-registry serve`) on a loopback port, for integration
 * tests: plain HTTP, HTTPS with a CA made in the test, and htpasswd (bcrypt) basic auth.
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { webcrypto } from 'node:crypto';
import { execa } from 'execa';
import { Agent, fetch } from 'undici';
import type { Dispatcher } from 'undici';
import { requireTool } from './tools.ts';

export interface TestRegistry {
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  readonly url: string;
  /** `127.0.0.1:PORT`: the registry part of image references. */
  readonly host: string;
  /** TLS only: PEM of the test-made CA that signed the server certificate. */
  readonly caPem?: string;
  /** TLS only: that CA as a file `ca.crt`, alone in its directory (usable as a skopeo cert dir). */
  readonly caFile?: string;
  readonly username?: string;
  readonly password?: string;
  /** Basic auth only: a docker `config.json` with `auths` for this host (cosign: DOCKER_CONFIG=dirname). */
  readonly dockerConfigFile?: string;
  /** A scratch directory owned by this registry, removed by stop(). */
  readonly workDir: string;
  /** An undici dispatcher that trusts the test CA (a plain Agent without TLS). */
  readonly dispatcher: Dispatcher;
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  readonly auth?: 'basic';
  readonly tls?: boolean;
}

const READY_TIMEOUT_MS = 15_000;

/** A port that was free a moment ago; the caller retries when the registry then fails to bind. */
async function pickFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  if (address === null || typeof address === 'string') throw new Error('could not pick a free port');
  return address.port;
}

interface ServerTls {
  readonly caPem: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * A throwaway CA and a server certificate for IP 127.0.0.1 (and `localhost`), ECDSA P-256, made
 * with the openssl CLI. (@peculiar/x509 would do it in-process but needs a Reflect metadata
 * polyfill that is not a dependency.)
 */
async function makeServerTls(dir: string): Promise<ServerTls> {
  const openssl = requireTool('openssl');
  const f = (name: string) => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc'];
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
    '/CN=countersign test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE,pathlen:0',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await execa(openssl, [
    'req',
    ...ec,
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
    '-subj',
    '/CN=127.0.0.1',
  ]);
  await writeFile(
    f('server.ext'),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' +
      'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  await execa(openssl, [
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('server.ext'),
    '-out',
    f('server.crt'),
  ]);
  return { caPem: await readFile(f('ca.pem'), 'utf8'), certFile: f('server.crt'), keyFile: f('server.key') };
}

/** A bcrypt htpasswd line, made by the real `htpasswd` (distribution accepts bcrypt only). */
async function htpasswdLine(username: string, password: string): Promise<string> {
  const { stdout } = await execa(requireTool('htpasswd'), ['-nbB', username, password]);
  return stdout.trim() + '\n';
}

function registryConfig(o: {
  port: number;
  storageDir: string;
  tls?: { certFile: string; keyFile: string };
  htpasswdFile?: string;
}): string {
  // Plain JSON is valid YAML; the registry reads it as its config.yml.
  const http: Record<string, unknown> = {
    addr: `127.0.0.1:${o.port}`,
    secret: 'countersign-test',
    ...(o.tls ? { tls: { certificate: o.tls.certFile, key: o.tls.keyFile } } : {}),
  };
  return JSON.stringify({
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: o.storageDir }, delete: { enabled: true } },
    http,
    ...(o.htpasswdFile ? { auth: { htpasswd: { realm: 'countersign-test', path: o.htpasswdFile } } } : {}),
  });
}

/**
 * Starts a registry with its own temp storage; resolves once `GET /v2/` answers (401 counts when
 * auth is on). Retries on a new port if the picked one was taken in between.
 */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const registryBin = requireTool('docker-registry');
  const workDir = await mkdtemp(path.join(tmpdir(), 'countersign-registry-'));
  try {
    const storageDir = path.join(workDir, 'storage');
    await mkdir(storageDir);

    let tlsFiles: { certFile: string; keyFile: string } | undefined;
    let caPem: string | undefined;
    let caFile: string | undefined;
    if (opts.tls === true) {
      const tlsDir = path.join(workDir, 'tls');
      await mkdir(tlsDir);
      const tls = await makeServerTls(tlsDir);
      tlsFiles = { certFile: tls.certFile, keyFile: tls.keyFile };
      const caDir = path.join(workDir, 'ca');
      await mkdir(caDir);
      caFile = path.join(caDir, 'ca.crt');
      await writeFile(caFile, tls.caPem);
      caPem = tls.caPem;
    }

    let credentials: { username: string; password: string; htpasswdFile: string } | undefined;
    if (opts.auth === 'basic') {
      const username = 'tester';
      const password = Buffer.from(webcrypto.getRandomValues(new Uint8Array(12))).toString('hex');
      const htpasswdFile = path.join(workDir, 'htpasswd');
      await writeFile(htpasswdFile, await htpasswdLine(username, password));
      credentials = { username, password, htpasswdFile };
    }

    const dispatcher = new Agent(caPem === undefined ? {} : { connect: { ca: caPem } });
    const scheme = opts.tls === true ? 'https' : 'http';

    for (let attempt = 1; ; attempt++) {
      const port = await pickFreePort();
      const configFile = path.join(workDir, 'config.yml');
      await writeFile(
        configFile,
        registryConfig({
          port,
          storageDir,
          ...(tlsFiles ? { tls: tlsFiles } : {}),
          ...(credentials ? { htpasswdFile: credentials.htpasswdFile } : {}),
        }),
      );
      const child = execa(registryBin, ['serve', configFile], { reject: false, all: true, buffer: true });
      const host = `127.0.0.1:${port}`;
      const url = `${scheme}://${host}`;
      const ready = await waitReady(child, url, dispatcher);
      if (ready === 'ready') {
        let dockerConfigFile: string | undefined;
        if (credentials) {
          const dir = path.join(workDir, 'docker');
          await mkdir(dir);
          dockerConfigFile = path.join(dir, 'config.json');
          const auth = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
          await writeFile(dockerConfigFile, JSON.stringify({ auths: { [host]: { auth } } }), { mode: 0o600 });
        }
        return {
          url,
          host,
          workDir,
          dispatcher,
          ...(caPem === undefined ? {} : { caPem }),
          ...(caFile === undefined ? {} : { caFile }),
          ...(credentials ? { username: credentials.username, password: credentials.password } : {}),
          ...(dockerConfigFile === undefined ? {} : { dockerConfigFile }),
          async stop() {
            child.kill('SIGTERM');
            await child;
            await dispatcher.close();
            await rm(workDir, { recursive: true, force: true });
          },
        };
      }
      child.kill('SIGKILL');
      const result = await child;
      const output = typeof result.all === 'string' ? result.all : '';
      if (ready === 'exited' && /address already in use/i.test(output) && attempt < 5) continue;
      throw new Error(`docker-registry did not become ready (${ready}): ${output.slice(-2000)}`);
    }
  } catch (error) {
    await rm(workDir, { recursive: true, force: true });
    throw error;
  }
}

async function waitReady(
  child: Promise<unknown>,
  url: string,
  dispatcher: Dispatcher,
): Promise<'ready' | 'exited' | 'timeout'> {
  const state = { exited: false };
  const markExited = () => {
    state.exited = true;
  };
  void child.then(markExited, markExited);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (state.exited) return 'exited';
    try {
      const res = await fetch(`${url}/v2/`, { dispatcher, signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) return 'ready';
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  return 'timeout';
}
