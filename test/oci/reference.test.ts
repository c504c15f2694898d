import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CountersignError } from '../../src/errors.ts';
import { formatReference, normalisedName, parseReference, pinnedReference } from '../../src/oci/reference.ts';
import type { Digest } from '../../src/oci/types.ts';

const HEX = '634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00';
const DIGEST: Digest = `sha256:${HEX}`;

function assertInvalid(text: string, pattern?: RegExp): void {
  assert.throws(
    () => parseReference(text),
    (e: unknown) =>
      e instanceof CountersignError &&
      e.code === 'INVALID_REFERENCE' &&
      (pattern === undefined || pattern.test(e.message)),
    `expected INVALID_REFERENCE for ${JSON.stringify(text)}`,
  );
}

describe('parseReference', () => {
  describe('when the image is on Docker Hub', () => {
    it('adds index.docker.io and library/ to a single name', () => {
      assert.deepEqual(parseReference('alpine'), {
        kind: 'registry',
        registry: 'index.docker.io',
        repository: 'library/alpine',
      });
    });

    it('keeps the tag', () => {
      assert.deepEqual(parseReference('alpine:3.20'), {
        kind: 'registry',
        registry: 'index.docker.io',
        repository: 'library/alpine',
        tag: '3.20',
      });
    });

    it('treats a first component without dot, colon or upper case as a path', () => {
      assert.deepEqual(parseReference('vendor/algo:1.4'), {
        kind: 'registry',
        registry: 'index.docker.io',
        repository: 'vendor/algo',
        tag: '1.4',
      });
    });

    it('normalises docker.io to index.docker.io', () => {
      assert.deepEqual(parseReference('docker.io/x/y'), {
        kind: 'registry',
        registry: 'index.docker.io',
        repository: 'x/y',
      });
      assert.equal(normalisedName(parseReference('docker.io/alpine')), 'index.docker.io/library/alpine');
      assert.equal(
        normalisedName(parseReference('index.docker.io/library/alpine')),
        'index.docker.io/library/alpine',
      );
    });
  });

  describe('when the first component is a registry host', () => {
    const cases: [string, string, string, string | undefined][] = [
      ['registry.hospital.example/vendor/algo:1.4', 'registry.hospital.example', 'vendor/algo', '1.4'],
      ['localhost/app', 'localhost', 'app', undefined],
      ['localhost:5000/app:v1', 'localhost:5000', 'app', 'v1'],
      ['127.0.0.1:5000/a/b/c', '127.0.0.1:5000', 'a/b/c', undefined],
      ['[::1]:5000/app:v2', '[::1]:5000', 'app', 'v2'],
      ['Registry.Example/app', 'registry.example', 'app', undefined],
      ['host:443/team/app:latest', 'host:443', 'team/app', 'latest'],
      ['reg.example/a_b/c__d/e-f/g--h/i.j:x', 'reg.example', 'a_b/c__d/e-f/g--h/i.j', 'x'],
    ];
    for (const [text, registry, repository, tag] of cases) {
      it(`reads ${text}`, () => {
        const ref = parseReference(text);
        assert.equal(ref.kind, 'registry');
        assert.equal(ref.registry, registry);
        assert.equal(ref.repository, repository);
        assert.equal(ref.tag, tag);
      });
    }
  });

  describe('when a digest is given', () => {
    it('reads a digest alone', () => {
      assert.deepEqual(parseReference(`reg.example/app@${DIGEST}`), {
        kind: 'registry',
        registry: 'reg.example',
        repository: 'app',
        digest: DIGEST,
      });
    });

    it('keeps both tag and digest', () => {
      assert.deepEqual(parseReference(`localhost:5000/app:v1@${DIGEST}`), {
        kind: 'registry',
        registry: 'localhost:5000',
        repository: 'app',
        tag: 'v1',
        digest: DIGEST,
      });
    });

    it('refuses upper-case hex', () => {
      assertInvalid(`reg.example/app@sha256:${HEX.toUpperCase()}`, /digest/);
    });
    it('refuses short hex', () => {
      assertInvalid(`reg.example/app@sha256:${HEX.slice(1)}`, /digest/);
    });
    it('refuses other algorithms', () => {
      assertInvalid(`reg.example/app@sha512:${HEX}${HEX}`, /digest/);
    });
    it('refuses an empty digest', () => {
      assertInvalid('reg.example/app@', /digest/);
    });
    it('refuses two digests', () => {
      assertInvalid(`reg.example/app@${DIGEST}@${DIGEST}`, /digest/);
    });
  });

  describe('when the text is malformed', () => {
    const garbage: [string, RegExp][] = [
      ['', /empty/],
      [' alpine', /whitespace/],
      ['alpine ', /whitespace/],
      ['al pine', /whitespace/],
      ['alpine\n', /whitespace/],
      ['reg.example/App', /lower-case/],
      ['reg.example/app:', /tag/],
      ['reg.example/app:-x', /tag/],
      ['reg.example/app:.x', /tag/],
      [`reg.example/app:${'a'.repeat(129)}`, /tag/],
      ['reg.example/app:t@g', /digest/],
      ['reg.example//app', /component/],
      ['reg.example/app/', /component/],
      ['reg.example/-app', /component/],
      ['reg.example/app-', /component/],
      ['reg.example/a...b', /component/],
      ['reg.example/a___b', /component/],
      ['reg.example/', /empty/],
      [':tag', /empty/],
      ['/app', /component/],
      ['reg.example:99999/app', /port/],
      ['reg.example:0/app', /port/],
      ['reg.example:abc/app', /port/],
      ['-reg.example/app', /host/],
      ['reg..example/app', /host/],
      ['reg_x.example/app', /host/],
      [`reg.example/${'a'.repeat(250)}`, /longer/],
      ['https://reg.example/app', /./],
      ['reg.example/app:tag:tag', /./],
      ['💥', /component/],
    ];
    for (const [text, why] of garbage) {
      it(`refuses ${JSON.stringify(text).slice(0, 60)}`, () => {
        assertInvalid(text, why);
      });
    }

    it('names the input in the message', () => {
      assert.throws(() => parseReference('reg.example/App'), /'reg\.example\/App'/);
    });
  });

  describe('when the reference is an OCI layout', () => {
    it('reads a bare directory', () => {
      assert.deepEqual(parseReference('oci:/data/layout'), { kind: 'layout', path: '/data/layout' });
    });

    it('reads a tag', () => {
      assert.deepEqual(parseReference('oci:/data/layout:latest'), {
        kind: 'layout',
        path: '/data/layout',
        tag: 'latest',
      });
    });

    it('reads a digest', () => {
      assert.deepEqual(parseReference(`oci:./layout@${DIGEST}`), {
        kind: 'layout',
        path: './layout',
        digest: DIGEST,
      });
    });

    it('reads a tag and a digest', () => {
      assert.deepEqual(parseReference(`oci:layout:v1@${DIGEST}`), {
        kind: 'layout',
        path: 'layout',
        tag: 'v1',
        digest: DIGEST,
      });
    });

    it('keeps a colon inside the directory when the suffix is not a tag', () => {
      assert.deepEqual(parseReference('oci:/data/a:b/c'), { kind: 'layout', path: '/data/a:b/c' });
    });

    it('takes only the last colon suffix as the tag', () => {
      assert.deepEqual(parseReference('oci:/data/a:b/c:v2'), {
        kind: 'layout',
        path: '/data/a:b/c',
        tag: 'v2',
      });
    });

    it('keeps an @ inside the directory when no digest follows', () => {
      assert.deepEqual(parseReference('oci:/data/user@host/layout'), {
        kind: 'layout',
        path: '/data/user@host/layout',
      });
    });

    it('does not take a tag when the directory would be empty', () => {
      assert.deepEqual(parseReference('oci::latest'), { kind: 'layout', path: ':latest' });
    });

    it('refuses an empty directory', () => {
      assertInvalid('oci:', /directory/);
    });
    it('refuses an empty directory before a digest', () => {
      assertInvalid(`oci:@${DIGEST}`, /directory/);
    });
    it('refuses a malformed digest', () => {
      assertInvalid('oci:/data/layout@sha256:abc', /digest/);
    });
  });
});

describe('formatReference', () => {
  it('writes Docker Hub images in full', () => {
    assert.equal(formatReference(parseReference('alpine')), 'index.docker.io/library/alpine');
    assert.equal(formatReference(parseReference('alpine:3')), 'index.docker.io/library/alpine:3');
  });

  it('writes tag before digest', () => {
    assert.equal(
      formatReference(parseReference(`localhost:5000/app:v1@${DIGEST}`)),
      `localhost:5000/app:v1@${DIGEST}`,
    );
  });

  it('writes layouts with the oci: prefix', () => {
    assert.equal(formatReference(parseReference(`oci:/a/b:v1@${DIGEST}`)), `oci:/a/b:v1@${DIGEST}`);
  });

  describe('when the output is parsed again', () => {
    const texts = [
      'alpine',
      'reg.example:5000/a/b:c',
      `reg.example/a@${DIGEST}`,
      `localhost/a:b@${DIGEST}`,
      'oci:/x/y:z',
      `oci:rel/dir@${DIGEST}`,
    ];
    for (const text of texts) {
      it(`gives the same reference for ${text}`, () => {
        const ref = parseReference(text);
        assert.deepEqual(parseReference(formatReference(ref)), ref);
      });
    }
  });
});

describe('pinnedReference', () => {
  it('pins a Docker Hub tag to its digest by full name', () => {
    assert.equal(
      pinnedReference(parseReference('alpine:3'), DIGEST),
      `index.docker.io/library/alpine@${DIGEST}`,
    );
  });

  it('drops the tag of a registry reference', () => {
    assert.equal(
      pinnedReference(parseReference('localhost:5000/app:v1'), DIGEST),
      `localhost:5000/app@${DIGEST}`,
    );
  });

  it('pins a layout', () => {
    assert.equal(pinnedReference(parseReference('oci:/l:latest'), DIGEST), `oci:/l@${DIGEST}`);
  });

  it('refuses a malformed digest', () => {
    assert.throws(
      () => pinnedReference(parseReference('alpine'), 'sha256:abc'),
      (e: unknown) => e instanceof CountersignError && e.code === 'INVALID_REFERENCE',
    );
  });
});

describe('normalisedName', () => {
  it('is registry/repository without tag or digest', () => {
    assert.equal(
      normalisedName(parseReference(`reg.example/vendor/algo:1.4@${DIGEST}`)),
      'reg.example/vendor/algo',
    );
  });

  it('is oci:<dir> for a layout', () => {
    assert.equal(normalisedName(parseReference('oci:/l:latest')), 'oci:/l');
  });
});
