import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCountersignError } from '../../src/errors.ts';
import {
  loadTrustRootDir,
  parseTrustedRoot,
  parseTrustedRootText,
  toTrustMaterial,
} from '../../src/trust/index.ts';
import { VirtualSigstore } from '../support/virtual-sigstore.ts';

type Json = Record<string, unknown> & {
  tlogs: { publicKey: { validFor: Record<string, string>; rawBytes: string; keyDetails: string } }[];
  certificateAuthorities: {
    validFor: Record<string, string>;
    certChain: { certificates: { rawBytes: string }[] };
  }[];
  ctlogs: { logId: { keyId: string } }[];
};

function rejects(json: unknown, message: RegExp): void {
  assert.throws(
    () => parseTrustedRoot(json, 'test-root'),
    (e: unknown) => isCountersignError(e) && e.code === 'TRUST_ROOT_INVALID' && message.test(e.message),
  );
}

describe('parseTrustedRoot', () => {
  let sigstore: VirtualSigstore;
  const fresh = (): Json => structuredClone(sigstore.trustedRoot({ withTsa: true })) as Json;

  before(async () => {
    sigstore = await VirtualSigstore.create();
  });

  describe('when the document is a valid trusted root', () => {
    it('exposes name, flags and a stable fingerprint', () => {
      const root = parseTrustedRoot(fresh(), 'hospital-private');
      assert.equal(root.name, 'hospital-private');
      assert.deepEqual(
        [
          root.hasCertificateAuthorities,
          root.hasTlogs,
          root.hasCtlogs,
          root.hasTimestampAuthorities,
          root.caOnly,
        ],
        [true, true, true, true, false],
      );
      assert.match(root.fingerprint, /^[0-9a-f]{64}$/);
      assert.equal(parseTrustedRoot(fresh(), 'other-name').fingerprint, root.fingerprint);
    });

    it('builds @sigstore/verify trust material once per root', () => {
      const root = parseTrustedRoot(fresh(), 'r');
      const material = toTrustMaterial(root);
      assert.equal(toTrustMaterial(root), material);
      assert.equal(material.tlogs.length, 1);
      assert.equal(material.certificateAuthorities[0]?.certChain.length, 2);
    });

    it('flags a CA-only root', () => {
      const root = parseTrustedRoot(sigstore.trustedRoot({ withTlog: false, withCtlog: false }), 'corporate');
      assert.equal(root.caOnly, true);
    });

    it('reads null fields as absent, as protobuf-JSON does', () => {
      const json = fresh();
      Object.assign(json.tlogs[0] ?? {}, { checkpointKeyId: null, operator: null });
      assert.equal(parseTrustedRoot(json, 'r').hasTlogs, true);
    });
  });

  describe('when a field is wrong', () => {
    it('rejects a tlog key without validFor.start, naming the field', () => {
      const json = fresh();
      delete json.tlogs[0]?.publicKey.validFor['start'];
      rejects(json, /tlogs\[0\]\.publicKey\.validFor\.start: missing/);
    });

    it('rejects a CA without validFor.start', () => {
      const json = fresh();
      json.certificateAuthorities[0]!.validFor = {};
      rejects(json, /certificateAuthorities\[0\]\.validFor\.start: missing/);
    });

    it('rejects a window that ends before it starts', () => {
      const json = fresh();
      json.tlogs[0]!.publicKey.validFor = { start: '2024-01-02T00:00:00Z', end: '2024-01-01T00:00:00Z' };
      rejects(json, /tlogs\[0\]\.publicKey\.validFor\.end: before start/);
    });

    it('rejects a time that is not RFC 3339', () => {
      const json = fresh();
      json.tlogs[0]!.publicKey.validFor = { start: 'yesterday' };
      rejects(json, /validFor\.start: not an RFC 3339 time/);
    });

    it('rejects key bytes that do not decode', () => {
      const json = fresh();
      json.tlogs[0]!.publicKey.rawBytes = Buffer.from('not a key').toString('base64');
      rejects(json, /tlogs\[0\]\.publicKey\.rawBytes: does not decode/);
    });

    it('rejects an unknown key type', () => {
      const json = fresh();
      json.tlogs[0]!.publicKey.keyDetails = 'PKIX_QUANTUM_MAGIC';
      rejects(json, /tlogs\[0\]\.publicKey\.keyDetails: unknown key type/);
    });

    it('rejects a certificate that does not parse', () => {
      const json = fresh();
      json.certificateAuthorities[0]!.certChain.certificates[1] = {
        rawBytes: Buffer.from('junk').toString('base64'),
      };
      rejects(json, /certificateAuthorities\[0\]\.certChain\.certificates\[1\]\.rawBytes: not a DER X\.509/);
    });

    it('rejects an empty certificate chain', () => {
      const json = fresh();
      json.certificateAuthorities[0]!.certChain.certificates = [];
      rejects(json, /certChain\.certificates: empty/);
    });

    it('rejects a log id that is not base64', () => {
      const json = fresh();
      json.ctlogs[0]!.logId.keyId = '***';
      rejects(json, /ctlogs\[0\]\.logId\.keyId: not base64/);
    });

    it('rejects another media type', () => {
      rejects({ ...fresh(), mediaType: 'application/json' }, /mediaType: unsupported/);
    });

    it('rejects a root that trusts nothing', () => {
      rejects({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1' }, /trusts nothing/);
    });

    it('rejects text that is not JSON', () => {
      assert.throws(
        () => parseTrustedRootText('{', 'broken'),
        (e: unknown) => isCountersignError(e) && e.code === 'TRUST_ROOT_INVALID',
      );
    });
  });
});

describe('loadTrustRootDir', () => {
  let sigstore: VirtualSigstore;
  before(async () => {
    sigstore = await VirtualSigstore.create();
  });

  describe('when several roots sit side by side', () => {
    it('loads each under its directory name', () => {
      const dir = mkdtempSync(join(tmpdir(), 'countersign-trust-'));
      try {
        for (const name of ['public-good', 'hospital-private']) {
          mkdirSync(join(dir, name));
          writeFileSync(join(dir, name, 'trusted_root.json'), JSON.stringify(sigstore.trustedRoot()));
        }
        const roots = loadTrustRootDir(dir);
        assert.deepEqual([...roots.keys()], ['hospital-private', 'public-good']);
        assert.equal(roots.get('public-good')?.name, 'public-good');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('when one root is invalid', () => {
    it('fails the whole load with TRUST_ROOT_INVALID', () => {
      const dir = mkdtempSync(join(tmpdir(), 'countersign-trust-'));
      try {
        mkdirSync(join(dir, 'good'));
        writeFileSync(join(dir, 'good', 'trusted_root.json'), JSON.stringify(sigstore.trustedRoot()));
        mkdirSync(join(dir, 'missing-file'));
        assert.throws(
          () => loadTrustRootDir(dir),
          (e: unknown) =>
            isCountersignError(e) && e.code === 'TRUST_ROOT_INVALID' && e.message.includes('missing-file'),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
