import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { CountersignError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { candidateHashes, parsePublicKeyPem } from '../../src/verify/keys.ts';
import { makeKey } from './fixtures.ts';

function assertCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof CountersignError && e.code === code);
}

describe('parsePublicKeyPem', () => {
  describe('when given an SPKI PUBLIC KEY', () => {
    for (const [kind, algorithm] of [
      ['p256', 'ecdsa-p256'],
      ['p384', 'ecdsa-p384'],
      ['p521', 'ecdsa-p521'],
      ['rsa', 'rsa'],
      ['ed25519', 'ed25519'],
    ] as const) {
      it(`reads a ${kind} key as ${algorithm} with the SPKI sha256 fingerprint`, () => {
        const key = makeKey(kind);
        const m = parsePublicKeyPem(key.publicPem, 'k.pub');
        assert.equal(m.algorithm, algorithm);
        assert.equal(m.name, 'k.pub');
        const spki = key.publicKey.export({ format: 'der', type: 'spki' });
        assert.equal(m.fingerprint, createHash('sha256').update(spki).digest('hex'));
      });
    }

    it('accepts CRLF line endings and text around the block', () => {
      const key = makeKey('p256');
      const pem = `comment line\r\n${key.publicPem.replace(/\n/g, '\r\n')}trailing\n`;
      assert.equal(parsePublicKeyPem(pem, 'k.pub').fingerprint, key.material.fingerprint);
    });
  });

  describe('when given a PKCS#1 RSA PUBLIC KEY', () => {
    it('reads it as the same key as its SPKI form', () => {
      const key = makeKey('rsa');
      const pkcs1 = key.publicKey.export({ format: 'pem', type: 'pkcs1' }).toString();
      assert.match(pkcs1, /BEGIN RSA PUBLIC KEY/);
      const m = parsePublicKeyPem(pkcs1, 'rsa.pub');
      assert.equal(m.algorithm, 'rsa');
      assert.equal(m.fingerprint, key.material.fingerprint);
    });
  });

  describe('when the input is not exactly one acceptable public key', () => {
    it('refuses two PEM blocks with KEY_INVALID', () => {
      const a = makeKey('p256');
      const b = makeKey('p256');
      assertCode(() => parsePublicKeyPem(a.publicPem + b.publicPem, 'two.pub'), 'KEY_INVALID');
    });

    it('refuses the same block twice with KEY_INVALID', () => {
      const a = makeKey('p256');
      assertCode(() => parsePublicKeyPem(a.publicPem + a.publicPem, 'dup.pub'), 'KEY_INVALID');
    });

    it('refuses a private key with KEY_INVALID', () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const pkcs8 = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      assertCode(() => parsePublicKeyPem(pkcs8, 'key.pem'), 'KEY_INVALID');
      const sec1 = privateKey.export({ format: 'pem', type: 'sec1' }).toString();
      assertCode(() => parsePublicKeyPem(sec1, 'key.pem'), 'KEY_INVALID');
    });

    it('refuses garbage with KEY_INVALID', () => {
      assertCode(() => parsePublicKeyPem('not a key at all', 'x.pub'), 'KEY_INVALID');
      assertCode(() => parsePublicKeyPem('', 'x.pub'), 'KEY_INVALID');
      assertCode(
        () => parsePublicKeyPem('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', 'x.pub'),
        'KEY_INVALID',
      );
    });

    it('refuses a certificate block with KEY_INVALID', () => {
      assertCode(
        () => parsePublicKeyPem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'c.pem'),
        'KEY_INVALID',
      );
    });

    it('refuses a 1024-bit RSA key as too weak with KEY_INVALID', () => {
      const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
      const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
      assert.throws(
        () => parsePublicKeyPem(pem, 'weak.pub'),
        (e: unknown) => e instanceof CountersignError && e.code === 'KEY_INVALID' && /weak/.test(e.message),
      );
    });

    it('refuses a curve cosign does not sign with (secp256k1) with KEY_INVALID', () => {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
      const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
      assertCode(() => parsePublicKeyPem(pem, 'k1.pub'), 'KEY_INVALID');
    });
  });
});

describe('candidateHashes', () => {
  it('tries the curve hash before SHA-256 for P-384 and P-521', () => {
    assert.deepEqual(candidateHashes('ecdsa-p384'), ['sha384', 'sha256']);
    assert.deepEqual(candidateHashes('ecdsa-p521'), ['sha512', 'sha256']);
    assert.deepEqual(candidateHashes('ecdsa-p256'), ['sha256']);
  });
});
