import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CountersignError } from '../../src/errors.ts';
import {
  TokenCache,
  basicAuthorization,
  parseTokenAnswer,
  parseWwwAuthenticate,
  pickChallenge,
  tokenUrl,
} from '../../src/oci/auth.ts';

const enc = (s: string) => new TextEncoder().encode(s);

describe('parseWwwAuthenticate', () => {
  it('reads a Docker Hub style Bearer challenge', () => {
    assert.deepEqual(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      ),
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:library/alpine:pull',
          },
        },
      ],
    );
  });

  it('reads a Basic challenge with an unquoted realm', () => {
    assert.deepEqual(parseWwwAuthenticate('Basic realm=registry'), [
      { scheme: 'basic', params: { realm: 'registry' } },
    ]);
  });

  it('reads several challenges in one header, spaces and escapes included', () => {
    assert.deepEqual(
      parseWwwAuthenticate('Basic realm="a \\"b\\"" , Bearer realm="https://x/t", service=s'),
      [
        { scheme: 'basic', params: { realm: 'a "b"' } },
        { scheme: 'bearer', params: { realm: 'https://x/t', service: 's' } },
      ],
    );
  });

  it('gives nothing for an empty or garbage header', () => {
    assert.deepEqual(parseWwwAuthenticate(''), []);
    assert.deepEqual(parseWwwAuthenticate('"""'), []);
  });
});

describe('pickChallenge', () => {
  it('prefers Bearer over Basic', () => {
    assert.equal(
      pickChallenge(parseWwwAuthenticate('Basic realm=a, Bearer realm="https://b"'))?.scheme,
      'bearer',
    );
  });

  it('ignores unknown schemes', () => {
    assert.equal(pickChallenge(parseWwwAuthenticate('Negotiate')), undefined);
  });
});

describe('tokenUrl', () => {
  it('adds service and the challenge scope', () => {
    const url = tokenUrl(
      { scheme: 'bearer', params: { realm: 'https://auth/token?x=1', service: 'reg', scope: 's1' } },
      'fallback',
    );
    assert.equal(url.toString(), 'https://auth/token?x=1&service=reg&scope=s1');
  });

  it('uses the fallback scope when the challenge has none', () => {
    const url = tokenUrl({ scheme: 'bearer', params: { realm: 'https://auth/token' } }, 'repository:a:pull');
    assert.equal(url.searchParams.get('scope'), 'repository:a:pull');
  });

  describe('when the realm is unusable', () => {
    for (const realm of [undefined, '', 'not a url', 'file:///etc/passwd']) {
      it(`refuses ${String(realm)} with REGISTRY_AUTH_FAILED`, () => {
        assert.throws(
          () => tokenUrl({ scheme: 'bearer', params: realm === undefined ? {} : { realm } }, 's'),
          (e: unknown) => e instanceof CountersignError && e.code === 'REGISTRY_AUTH_FAILED',
        );
      });
    }
  });
});

describe('parseTokenAnswer', () => {
  it('reads token and expires_in', () => {
    assert.deepEqual(parseTokenAnswer(enc('{"token":"abc","expires_in":300}')), {
      token: 'abc',
      expiresInSeconds: 300,
    });
  });

  it('reads an OAuth2 access_token and defaults to 60 seconds', () => {
    assert.deepEqual(parseTokenAnswer(enc('{"access_token":"xyz"}')), { token: 'xyz', expiresInSeconds: 60 });
  });

  for (const text of ['nope', '{}', '{"token":""}', '{"token":"a\\r\\nX-Evil: 1"}', '{"token":5}']) {
    it(`refuses ${text} with REGISTRY_AUTH_FAILED`, () => {
      assert.throws(
        () => parseTokenAnswer(enc(text)),
        (e: unknown) => e instanceof CountersignError && e.code === 'REGISTRY_AUTH_FAILED',
      );
    });
  }
});

describe('basicAuthorization', () => {
  it('encodes user:password in base64', () => {
    assert.equal(
      basicAuthorization({ username: 'u', password: 'p:w' }),
      `Basic ${Buffer.from('u:p:w').toString('base64')}`,
    );
  });
});

describe('TokenCache', () => {
  it('forgets a token ten seconds before it expires', () => {
    let now = 1_000_000;
    const cache = new TokenCache(() => now);
    assert.equal(cache.set('k', { token: 't', expiresInSeconds: 60 }), 'Bearer t');
    now += 49_000;
    assert.equal(cache.get('k'), 'Bearer t');
    now += 1_000;
    assert.equal(cache.get('k'), undefined);
  });

  it('keys by realm, service and scope', () => {
    const a = TokenCache.key(new URL('https://auth/token?service=r&scope=repository:a:pull'));
    const b = TokenCache.key(new URL('https://auth/token?service=r&scope=repository:b:pull'));
    assert.notEqual(a, b);
  });
});
