import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CountersignError } from '../../src/errors.ts';
import {
  credentialsFor,
  loadDockerConfig,
  normaliseAuthKey,
  parseDockerConfig,
} from '../../src/oci/docker-config.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function assertConfigInvalid(text: string): void {
  assert.throws(
    () => parseDockerConfig(text),
    (e: unknown) => e instanceof CountersignError && e.code === 'CONFIG_INVALID',
  );
}

describe('normaliseAuthKey', () => {
  const cases: [string, string][] = [
    ['registry.example', 'registry.example'],
    ['Registry.Example:5000', 'registry.example:5000'],
    ['https://registry.example', 'registry.example'],
    ['http://127.0.0.1:5000/v2/', '127.0.0.1:5000'],
    ['https://index.docker.io/v1/', 'index.docker.io'],
    ['docker.io', 'index.docker.io'],
    ['registry-1.docker.io', 'index.docker.io'],
  ];
  for (const [key, host] of cases) {
    it(`maps ${key} to ${host}`, () => {
      assert.equal(normaliseAuthKey(key), host);
    });
  }
});

describe('parseDockerConfig', () => {
  it('reads auth as base64 user:password, the password may hold colons', () => {
    const config = parseDockerConfig(
      JSON.stringify({ auths: { 'reg.example': { auth: b64('alice:s3:cr:et') } } }),
    );
    assert.deepEqual(credentialsFor(config, 'reg.example'), { username: 'alice', password: 's3:cr:et' });
  });

  it('reads username and password fields', () => {
    const config = parseDockerConfig(
      JSON.stringify({ auths: { 'https://reg.example:5000': { username: 'bob', password: 'pw' } } }),
    );
    assert.deepEqual(credentialsFor(config, 'reg.example:5000'), { username: 'bob', password: 'pw' });
  });

  it('finds Docker Hub credentials under the classic v1 key', () => {
    const config = parseDockerConfig(
      JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64('c:d') } } }),
    );
    assert.deepEqual(credentialsFor(config, 'index.docker.io'), { username: 'c', password: 'd' });
  });

  it('prefers a bare host key over a URL key for the same registry', () => {
    const config = parseDockerConfig(
      JSON.stringify({
        auths: { 'reg.example': { auth: b64('bare:1') }, 'https://reg.example': { auth: b64('url:2') } },
      }),
    );
    assert.equal(credentialsFor(config, 'reg.example')?.username, 'bare');
  });

  it('skips entries without credentials (credential helper users)', () => {
    const config = parseDockerConfig(JSON.stringify({ auths: { 'reg.example': {} }, credsStore: 'desktop' }));
    assert.equal(credentialsFor(config, 'reg.example'), undefined);
  });

  it('has no credentials for another host or port', () => {
    const config = parseDockerConfig(JSON.stringify({ auths: { 'reg.example:5000': { auth: b64('a:b') } } }));
    assert.equal(credentialsFor(config, 'reg.example'), undefined);
    assert.equal(credentialsFor(config, 'other.example:5000'), undefined);
  });

  it('accepts a config without auths', () => {
    assert.equal(parseDockerConfig('{}').auths.size, 0);
  });

  describe('when the file is malformed', () => {
    it('refuses invalid JSON', () => {
      assertConfigInvalid('{');
    });
    it('refuses a non-object', () => {
      assertConfigInvalid('[]');
    });
    it('refuses auths that is not an object', () => {
      assertConfigInvalid('{"auths":[]}');
    });
    it('refuses an entry that is not an object', () => {
      assertConfigInvalid('{"auths":{"r":"x"}}');
    });
    it('refuses auth that is not base64', () => {
      assertConfigInvalid('{"auths":{"r":{"auth":"not base64!"}}}');
    });
    it('refuses auth without a colon', () => {
      assertConfigInvalid(JSON.stringify({ auths: { r: { auth: b64('nocolon') } } }));
    });
  });
});

describe('loadDockerConfig', () => {
  it('reads a file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'countersign-dockercfg-'));
    try {
      const file = path.join(dir, 'config.json');
      await writeFile(file, JSON.stringify({ auths: { 'reg.example': { auth: b64('a:b') } } }));
      const config = await loadDockerConfig(file);
      assert.deepEqual(credentialsFor(config, 'reg.example'), { username: 'a', password: 'b' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a missing file with CONFIG_INVALID', async () => {
    await assert.rejects(
      loadDockerConfig(path.join(tmpdir(), 'countersign-no-such-dir', 'config.json')),
      (e: unknown) => e instanceof CountersignError && e.code === 'CONFIG_INVALID',
    );
  });
});
