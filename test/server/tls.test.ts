/**
 * TLS and client-certificate authentication over real connections on 127.0.0.1: the appliance
 * started from a configuration with server.tls (cert, key, clientCa), certificates made with the
 * openssl CLI. A client certificate whose CN is a registered verifier is a principal for
 * /v1/verify (recorded as the actor); an unregistered CN is refused 401 and audited; a client
 * without a certificate, or with one from another CA, is refused in the handshake.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { Agent, request } from 'undici';
import { createLogger } from '../../src/server/app.ts';
import { startServer } from '../../src/server/server.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { requireTool } from '../support/tools.ts';
import { writeSignedLayout } from './fixtures.ts';
import { prepareServeConfig } from './serve-process.ts';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc'];

async function makeCa(dir: string, name: string): Promise<void> {
  await execa(requireTool('openssl'), [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    path.join(dir, `${name}.key`),
    '-out',
    path.join(dir, `${name}.pem`),
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE,pathlen:0',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A leaf certificate `<name>.crt` / `<name>.key` issued by CA `ca`. */
async function issue(dir: string, ca: string, name: string, cn: string, ext: string): Promise<void> {
  const openssl = requireTool('openssl');
  const f = (file: string) => path.join(dir, file);
  await execa(openssl, [
    'req',
    ...EC,
    '-keyout',
    f(`${name}.key`),
    '-out',
    f(`${name}.csr`),
    '-subj',
    `/CN=${cn}`,
  ]);
  writeFileSync(
    f(`${name}.ext`),
    `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n${ext}\n`,
  );
  await execa(openssl, [
    'x509',
    '-req',
    '-in',
    f(`${name}.csr`),
    '-CA',
    f(`${ca}.pem`),
    '-CAkey',
    f(`${ca}.key`),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f(`${name}.ext`),
    '-out',
    f(`${name}.crt`),
  ]);
}

/** The connection is closed before any HTTP answer (TLS 1.3 refuses the certificate after the handshake). */
function refusedInHandshake(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return (
    code === 'UND_ERR_SOCKET' ||
    code === 'ECONNRESET' ||
    (typeof code === 'string' && code.startsWith('ERR_SSL'))
  );
}

describe('serve over TLS with client certificates', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'countersign-tls-'));
  let server: RunningServer;
  let image = '';
  let caPem = '';
  const pki = (file: string) => readFileSync(path.join(root, 'config', file), 'utf8');
  const agents: Agent[] = [];
  const client = (name?: string): Agent => {
    const agent = new Agent({
      connect: {
        ca: caPem,
        ...(name === undefined ? {} : { cert: pki(`${name}.crt`), key: pki(`${name}.key`) }),
      },
    });
    agents.push(agent);
    return agent;
  };

  before(async () => {
    const cfg = prepareServeConfig(
      root,
      'server:\n  tls: { cert: server.crt, key: server.key, clientCa: client-ca.pem }\n',
    );
    const dir = cfg.configDir;
    await makeCa(dir, 'server-ca');
    await makeCa(dir, 'client-ca');
    await makeCa(dir, 'other-ca');
    await issue(
      dir,
      'server-ca',
      'server',
      '127.0.0.1',
      'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1',
    );
    // `mercure` is the verifier token prepareServeConfig registered.
    await issue(dir, 'client-ca', 'mercure', 'mercure', 'extendedKeyUsage=clientAuth');
    await issue(dir, 'client-ca', 'stranger', 'stranger', 'extendedKeyUsage=clientAuth');
    await issue(dir, 'other-ca', 'forged', 'mercure', 'extendedKeyUsage=clientAuth');
    caPem = pki('server-ca.pem');
    const layout = path.join(cfg.layouts, 'signed');
    writeSignedLayout(layout, cfg.key);
    image = `oci:${layout}`;
    server = await startServer({
      configDir: dir,
      port: 0,
      layoutRoots: [cfg.layouts],
      softwareVersion: '0.0.0-test',
      logger: createLogger({ level: 'silent' }),
    });
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await server.close();
    rmSync(root, { recursive: true, force: true });
  });

  const verify = (dispatcher: Agent) =>
    request(`${server.url}/v1/verify`, {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image }),
    });

  it('listens with https on 127.0.0.1', () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  describe('when the client certificate names a registered verifier', () => {
    it('authenticates it without a token and records it as the actor', async () => {
      const res = await verify(client('mercure'));
      const body = (await res.body.json()) as { allowed: boolean; receipt: { index: number } };
      assert.equal(res.statusCode, 200, JSON.stringify(body));
      assert.equal(body.allowed, true);
      assert.equal(server.appliance.audit.getEntry(body.receipt.index).entry.actor, 'mercure');
    });
  });

  describe('when the client certificate names nobody registered', () => {
    it('answers 401 UNAUTHENTICATED and audits the refusal with the certificate subject', async () => {
      const before = server.appliance.audit.size();
      const res = await verify(client('stranger'));
      assert.equal(res.statusCode, 401);
      assert.equal(((await res.body.json()) as { code: string }).code, 'UNAUTHENTICATED');
      const entry = server.appliance.audit.getEntry(before).entry;
      assert.equal(entry.kind, 'auth-refused');
      assert.equal(entry.actor, 'cert:stranger');
    });
  });

  describe('when the client presents no certificate', () => {
    it('is refused in the TLS handshake', async () => {
      const before = server.appliance.audit.size();
      await assert.rejects(async () => {
        const res = await verify(client());
        await res.body.dump();
      }, refusedInHandshake);
      // No HTTP request got through, so there is nothing for the application to record.
      assert.equal(server.appliance.audit.size(), before);
    });
  });

  describe('when the certificate comes from another CA', () => {
    it('is refused in the TLS handshake, whatever its CN', async () => {
      const before = server.appliance.audit.size();
      await assert.rejects(async () => {
        const res = await verify(client('forged'));
        await res.body.dump();
      }, refusedInHandshake);
      // No HTTP request got through, so there is nothing for the application to record.
      assert.equal(server.appliance.audit.size(), before);
    });
  });
});
