import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ed25519KeyId,
  ed25519NoteSigner,
  ed25519NoteVerifier,
  ed25519VerifierKeyString,
  formatCheckpoint,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  rawEd25519PublicKey,
  signCheckpoint,
  signNote,
} from '../../src/audit/checkpoint.ts';
import { CountersignError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';

// The example of golang.org/x/mod/sumdb/note (note.go doc comment and note_test.go):
// signer key  PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz
// verifier    PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW
const GO_SEED = Buffer.from('AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz', 'base64').subarray(1);
const GO_PUBLIC = new Uint8Array(
  Buffer.from('ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', 'base64').subarray(1),
);
const GO_TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE =
  GO_TEXT +
  '\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';

/** An Ed25519 private KeyObject from a raw 32-byte seed (RFC 8410 PKCS#8 wrapping). */
function privateKeyFromSeed(seed: Uint8Array) {
  const prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
  return createPrivateKey({ key: Buffer.concat([prefix, seed]), format: 'der', type: 'pkcs8' });
}

function assertCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof CountersignError && e.code === code);
}

const goKey = privateKeyFromSeed(GO_SEED);

describe('checkpoint', () => {
  describe('when signing the sumdb/note reference note', () => {
    it('derives the reference key ID c74f20a3', () => {
      assert.deepEqual(rawEd25519PublicKey(goKey), GO_PUBLIC);
      assert.equal(Buffer.from(ed25519KeyId('PeterNeumann', GO_PUBLIC)).toString('hex'), 'c74f20a3');
      assert.equal(
        ed25519VerifierKeyString('PeterNeumann', GO_PUBLIC),
        'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
      );
    });

    it('produces the reference note byte for byte', () => {
      assert.equal(signNote(GO_TEXT, [ed25519NoteSigner('PeterNeumann', goKey)]), GO_NOTE);
    });

    it('opens the reference note with the reference public key', () => {
      const opened = openNote(GO_NOTE, [ed25519NoteVerifier('PeterNeumann', GO_PUBLIC)]);
      assert.equal(opened.text, GO_TEXT);
      assert.equal(opened.verified.length, 1);
    });
  });

  describe('when a note is altered', () => {
    const verifier = ed25519NoteVerifier('PeterNeumann', GO_PUBLIC);

    it('rejects a changed text with SIGNATURE_INVALID', () => {
      assertCode(
        () => openNote(GO_NOTE.replace('cryptography', 'cryptographY'), [verifier]),
        'SIGNATURE_INVALID',
      );
    });

    it('rejects a note signed only by unknown keys with SIGNATURE_INVALID', () => {
      const other = ed25519NoteVerifier('EnochRoot', GO_PUBLIC);
      assertCode(() => openNote(GO_NOTE, [other]), 'SIGNATURE_INVALID');
    });

    it('ignores an unknown extra signature but still verifies the known one', () => {
      const stranger = ed25519NoteSigner('witness.example', generateKeyPairSync('ed25519').privateKey);
      const extra = signNote(GO_TEXT, [stranger]).slice(GO_TEXT.length + 1);
      const opened = openNote(GO_NOTE + extra, [verifier]);
      assert.equal(opened.verified.length, 1);
    });

    it('rejects a signature line without the em dash with SIGNATURE_ENCODING_INVALID', () => {
      assertCode(() => openNote(GO_NOTE.replace('\u2014', '-'), [verifier]), 'SIGNATURE_ENCODING_INVALID');
    });

    it('rejects a note without the blank line with SIGNATURE_ENCODING_INVALID', () => {
      assertCode(() => openNote(GO_NOTE.replace('\n\n', '\n'), [verifier]), 'SIGNATURE_ENCODING_INVALID');
    });
  });

  describe('when writing and reading a checkpoint', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const origin = 'countersign.hospital.example/audit';
    const root = new Uint8Array(32).fill(7);
    const note = signCheckpoint(
      { origin, size: 42, root, extensions: [] },
      ed25519NoteSigner(origin, privateKey),
    );

    it('has the tlog-checkpoint layout', () => {
      const lines = note.split('\n');
      assert.equal(lines[0], origin);
      assert.equal(lines[1], '42');
      assert.equal(lines[2], Buffer.from(root).toString('base64'));
      assert.equal(lines[3], '');
      assert.match(lines[4] ?? '', /^\u2014 countersign\.hospital\.example\/audit [A-Za-z0-9+/]+=*$/u);
    });

    it('opens to the same origin, size and root', () => {
      const cp = openCheckpoint(note, publicKey, { origin });
      assert.equal(cp.origin, origin);
      assert.equal(cp.size, 42);
      assert.deepEqual(cp.root, root);
    });

    it('rejects a checkpoint signed by another key with SIGNATURE_INVALID', () => {
      const forger = generateKeyPairSync('ed25519').privateKey;
      const forged = signCheckpoint(
        { origin, size: 43, root, extensions: [] },
        ed25519NoteSigner(origin, forger),
      );
      assertCode(() => openCheckpoint(forged, publicKey), 'SIGNATURE_INVALID');
    });

    it('rejects a checkpoint whose size was edited with SIGNATURE_INVALID', () => {
      assertCode(() => openCheckpoint(note.replace('\n42\n', '\n41\n'), publicKey), 'SIGNATURE_INVALID');
    });

    it('rejects a checkpoint from another origin with SIGNATURE_INVALID', () => {
      assertCode(
        () => openCheckpoint(note, publicKey, { origin: 'elsewhere.example/log' }),
        'SIGNATURE_INVALID',
      );
    });

    it('keeps extension lines', () => {
      const text = formatCheckpoint({ origin, size: 1, root, extensions: ['software 1.2.3'] });
      assert.deepEqual(parseCheckpoint(text).extensions, ['software 1.2.3']);
    });

    it('rejects sizes with leading zeros and short roots with PAYLOAD_INVALID', () => {
      const b64 = Buffer.from(root).toString('base64');
      assertCode(() => parseCheckpoint(`${origin}\n042\n${b64}\n`), 'PAYLOAD_INVALID');
      assertCode(() => parseCheckpoint(`${origin}\n42\nAAAA\n`), 'PAYLOAD_INVALID');
      assertCode(() => parseCheckpoint(`${origin}\n42\n`), 'PAYLOAD_INVALID');
      assert.equal(parseCheckpoint(`${origin}\n0\n${b64}\n`).size, 0);
    });
  });
});
