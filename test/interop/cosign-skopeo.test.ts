/**
 * Interoperability with the signers vendors use: images pushed to a real distribution registry,
 * signed by real cosign 2.5 (`sign --key`, `attest --new-bundle-format`) and skopeo 1.18
 * (`--sign-by-sigstore-private-key`), verified through the countersign CLI. Tampering is done
 * over the Distribution API, as an attacker with push rights would.
 *
 * One registry for the whole file; every case uses its own repository. Tools are required.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  OCI_MANIFEST,
  buildRandomImage,
  cosignSignatureTag,
  getBlob,
  getManifest,
  pushImage,
  pushIndex,
  putManifest,
  referrersFallbackTag,
  sha256Digest,
  uploadBlob,
  writeOciLayout,
} from '../support/images.ts';
import type { PushedManifest } from '../support/images.ts';
import { startRegistry } from '../support/registry.ts';
import type { TestRegistry } from '../support/registry.ts';
import {
  cosignAttestBundle,
  cosignGenerateKeyPair,
  cosignSign,
  imageRef,
  skopeoCopySigned,
  skopeoGenerateKey,
} from '../support/signing.ts';
import type { KeyPair, SkopeoKey } from '../support/signing.ts';
import { assertAllowed, assertDenied, verifyCli } from './run-cli.ts';
import type { VerifyRun } from './run-cli.ts';

const PASSWORD = 'interop-pass';
const SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

let reg: TestRegistry;
let workDir = '';
let vendor: KeyPair;
let qa: KeyPair;
let skopeoKey: SkopeoKey;

before(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'countersign-interop-'));
  [reg, vendor, qa, skopeoKey] = await Promise.all([
    startRegistry(),
    cosignGenerateKeyPair(path.join(workDir, 'keys'), PASSWORD, 'vendor'),
    cosignGenerateKeyPair(path.join(workDir, 'keys'), PASSWORD, 'qa'),
    skopeoGenerateKey(path.join(workDir, 'keys'), PASSWORD, 'skopeo'),
  ]);
});

after(async () => {
  await reg.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** `countersign verify REF --insecure-registry HOST ...` against the file's registry. */
function verify(ref: string, ...args: string[]): Promise<VerifyRun> {
  return verifyCli(workDir, ref, '--insecure-registry', reg.host, ...args);
}

/** Pushes a fresh image to repo:tag and signs its digest with cosign. */
async function pushSigned(repo: string, tag: string, key: KeyPair, extra: readonly string[] = []) {
  const image = await pushImage(reg, repo, tag);
  await cosignSign(reg, imageRef(reg, repo, image.digest), key.privateKeyPath, PASSWORD, extra);
  return image;
}

interface SigManifest {
  layers: { digest: string; size: number; mediaType: string; annotations?: Record<string, string> }[];
}

function json(bytes: Uint8Array): unknown {
  return JSON.parse(Buffer.from(bytes).toString('utf8'));
}

/** Every signer reason code of the outcome's policies. */
function reasonCodes(r: VerifyRun): string[] {
  return (r.outcome?.decision?.policies ?? []).flatMap((p) =>
    p.signers.flatMap((s) => s.reasons.map((x) => x.code)),
  );
}

describe('countersign verify against real cosign and skopeo signatures', () => {
  describe('when cosign signed the image with a key', () => {
    const repo = 'interop/cosign';
    let digest = '';

    before(async () => {
      digest = (await pushSigned(repo, 'v1', vendor)).digest;
    });

    it('allows it by tag, answering the pushed digest', async () => {
      const o = assertAllowed(await verify(`${reg.host}/${repo}:v1`, '--key', vendor.publicKeyPath), digest);
      assert.equal(o.pinned, `${reg.host}/${repo}@${digest}`);
      assert.deepEqual(o.signatures, [{ id: `${cosignSignatureTag(digest)}#0`, format: 'cosign-legacy' }]);
    });

    it('allows it by digest', async () => {
      assertAllowed(await verify(`${reg.host}/${repo}@${digest}`, '--key', vendor.publicKeyPath), digest);
    });

    it('denies it under another key with SIGNATURE_INVALID', async () => {
      const r = await verify(`${reg.host}/${repo}:v1`, '--key', qa.publicKeyPath);
      assertDenied(r, 1, 'SIGNATURE_INVALID');
      assert.equal(r.outcome?.digest, digest);
    });

    it('denies it under the skopeo key with SIGNATURE_INVALID', async () => {
      assertDenied(
        await verify(`${reg.host}/${repo}:v1`, '--key', skopeoKey.publicKeyPath),
        1,
        'SIGNATURE_INVALID',
      );
    });
  });

  describe('when skopeo signed the image on copy', () => {
    const repo = 'interop/skopeo';
    let digest = '';

    before(async () => {
      const image = buildRandomImage();
      const layout = path.join(workDir, 'layout-skopeo');
      await writeOciLayout(layout, [{ tag: 'v1', image }]);
      await skopeoCopySigned(
        reg,
        `oci:${layout}:v1`,
        `${reg.host}/${repo}:v1`,
        skopeoKey.privateKeyPath,
        skopeoKey.passphraseFile,
      );
      digest = image.manifest.digest;
    });

    it('allows it under the skopeo public key', async () => {
      assertAllowed(await verify(`${reg.host}/${repo}:v1`, '--key', skopeoKey.publicKeyPath), digest);
    });

    it('denies it under a cosign key with SIGNATURE_INVALID', async () => {
      assertDenied(
        await verify(`${reg.host}/${repo}:v1`, '--key', vendor.publicKeyPath),
        1,
        'SIGNATURE_INVALID',
      );
    });
  });

  describe('when the signed payload was tampered with', () => {
    it('denies it with SIGNATURE_LAYER_MODIFIED: the signature image recorded another layer', async () => {
      const repo = 'interop/tampered';
      const image = await pushSigned(repo, 'v1', vendor);
      const sigTag = cosignSignatureTag(image.digest);
      const sig = await getManifest(reg, repo, sigTag);
      assert.ok(sig);
      const manifest = json(sig.manifestBytes) as SigManifest & Record<string, unknown>;
      const layer = manifest.layers[0]!;
      // Same payload, with an `optional` claim the signer never made (recipe step 4b).
      const payload = json(await getBlob(reg, repo, layer.digest)) as Record<string, unknown>;
      const tampered = Buffer.from(JSON.stringify({ ...payload, optional: { tampered: 'yes' } }));
      layer.digest = await uploadBlob(reg, repo, tampered);
      layer.size = tampered.length;
      await putManifest(reg, repo, sigTag, Buffer.from(JSON.stringify(manifest)), sig.mediaType);

      const r = await verify(`${reg.host}/${repo}:v1`, '--key', vendor.publicKeyPath);
      assertDenied(r, 1, 'SIGNATURE_LAYER_MODIFIED');
      assert.deepEqual(reasonCodes(r), ['SIGNATURE_LAYER_MODIFIED']);
    });
  });

  describe("when another image's signature manifest is copied onto the image", () => {
    it('denies it with PAYLOAD_DIGEST_MISMATCH', async () => {
      const repo = 'interop/transplant';
      const signed = await pushSigned(repo, 'signed', vendor);
      const victim = await pushImage(reg, repo, 'unsigned');
      const sig = await getManifest(reg, repo, cosignSignatureTag(signed.digest));
      assert.ok(sig);
      await putManifest(reg, repo, cosignSignatureTag(victim.digest), sig.manifestBytes, sig.mediaType);

      const r = await verify(`${reg.host}/${repo}:unsigned`, '--key', vendor.publicKeyPath);
      assertDenied(r, 1, 'PAYLOAD_DIGEST_MISMATCH');
      assert.equal(r.outcome?.digest, victim.digest);
    });
  });

  describe('when the image is not signed', () => {
    it('denies it with NO_SIGNATURES', async () => {
      const repo = 'interop/unsigned';
      const image = await pushImage(reg, repo, 'v1');
      const r = await verify(`${reg.host}/${repo}:v1`, '--key', vendor.publicKeyPath);
      assertDenied(r, 1, 'NO_SIGNATURES');
      assert.equal(r.outcome?.digest, image.digest);
      assert.deepEqual(r.outcome.signatures, []);
    });
  });

  describe('when the tag was re-pushed after signing', () => {
    const repo = 'interop/repushed';
    let oldDigest = '';
    let newDigest = '';

    before(async () => {
      oldDigest = (await pushSigned(repo, 'v1', vendor)).digest;
      newDigest = (await pushImage(reg, repo, 'v1')).digest;
      assert.notEqual(oldDigest, newDigest);
    });

    it('denies the tag, which now names an unsigned digest, with SIGNED_OTHER_DIGEST', async () => {
      const r = await verify(`${reg.host}/${repo}:v1`, '--key', vendor.publicKeyPath);
      assertDenied(r, 1, 'SIGNED_OTHER_DIGEST');
      assert.match(r.outcome?.explanation ?? '', /re-pushed after signing/);
      assert.equal(r.outcome?.digest, newDigest);
    });

    it('still allows the old digest pinned', async () => {
      assertAllowed(
        await verify(`${reg.host}/${repo}@${oldDigest}`, '--key', vendor.publicKeyPath),
        oldDigest,
      );
    });
  });

  describe('when two signers are required (--threshold 2)', () => {
    const repo = 'interop/threshold';
    let both = '';
    let twiceByOne = '';

    before(async () => {
      both = (await pushSigned(repo, 'both', vendor)).digest;
      await cosignSign(reg, imageRef(reg, repo, both), qa.privateKeyPath, PASSWORD);
      await pushSigned(repo, 'one', vendor);
      twiceByOne = (await pushSigned(repo, 'twice', vendor)).digest;
      // cosign skips a second identical signature by the same key; another payload is a new layer.
      await cosignSign(reg, imageRef(reg, repo, twiceByOne), vendor.privateKeyPath, PASSWORD, [
        '-a',
        'run=2',
      ]);
    });

    const twoKeys = () => ['--key', vendor.publicKeyPath, '--key', qa.publicKeyPath, '--threshold', '2'];

    it('allows an image both keys signed', async () => {
      const o = assertAllowed(await verify(`${reg.host}/${repo}:both`, ...twoKeys()), both);
      assert.equal(o.signatures.length, 2);
      assert.equal(o.decision?.policies[0]?.satisfied, 2);
    });

    it('denies an image only one key signed with THRESHOLD_NOT_MET', async () => {
      const o = assertDenied(await verify(`${reg.host}/${repo}:one`, ...twoKeys()), 1, 'THRESHOLD_NOT_MET');
      assert.equal(o.decision?.policies[0]?.satisfied, 1);
    });

    it('counts two signatures by the same key once (THRESHOLD_NOT_MET)', async () => {
      const r = await verify(`${reg.host}/${repo}:twice`, ...twoKeys());
      const o = assertDenied(r, 1, 'THRESHOLD_NOT_MET');
      assert.equal(o.signatures.length, 2, 'cosign should have written two signature layers');
      assert.equal(o.decision?.policies[0]?.satisfied, 1);
    });

    it('counts the same key given twice as one signer (threshold 2 is refused, exit 2)', async () => {
      const copy = path.join(workDir, 'vendor-copy.pub');
      await copyFile(vendor.publicKeyPath, copy);
      const r = await verify(
        `${reg.host}/${repo}:both`,
        '--key',
        vendor.publicKeyPath,
        '--key',
        copy,
        '--threshold',
        '2',
      );
      assert.equal(r.exit, 2);
      assert.equal(r.outcome, undefined);
      assert.match(r.stderr, /\[POLICY_INVALID\]/);
    });
  });

  describe('when the tag names an image index', () => {
    it('verifies the index digest cosign signed', async () => {
      const repo = 'interop/index';
      const a = await pushImage(reg, repo, 'amd64');
      const b = await pushImage(reg, repo, 'arm64');
      const index = await pushIndex(reg, repo, 'multi', [a.digest, b.digest]);
      await cosignSign(reg, imageRef(reg, repo, index.digest), vendor.privateKeyPath, PASSWORD);

      assertAllowed(await verify(`${reg.host}/${repo}:multi`, '--key', vendor.publicKeyPath), index.digest);
      // The children were not signed themselves.
      assertDenied(
        await verify(`${reg.host}/${repo}@${a.digest}`, '--key', vendor.publicKeyPath),
        1,
        'NO_SIGNATURES',
      );
    });
  });

  describe('when cosign signed with -a annotations', () => {
    const repo = 'interop/annotated';
    let digest = '';

    before(async () => {
      digest = (await pushSigned(repo, 'v1', vendor, ['-a', 'team=radiology'])).digest;
    });

    it('allows -a team=radiology', async () => {
      assertAllowed(
        await verify(`${reg.host}/${repo}:v1`, '--key', vendor.publicKeyPath, '-a', 'team=radiology'),
        digest,
      );
    });

    it('denies -a team=other with ANNOTATION_MISMATCH', async () => {
      assertDenied(
        await verify(`${reg.host}/${repo}:v1`, '--key', vendor.publicKeyPath, '-a', 'team=other'),
        1,
        'ANNOTATION_MISMATCH',
      );
    });
  });

  describe('when cosign wrote Sigstore bundles (attest --new-bundle-format)', () => {
    const repo = 'interop/bundle';
    let image: PushedManifest;

    before(async () => {
      image = await pushImage(reg, repo, 'v1');
      await cosignAttestBundle(reg, imageRef(reg, repo, image.digest), vendor.privateKeyPath, PASSWORD);
    });

    it('discovers a cosign/sign/v1 bundle in the fallback tag as a signature candidate', async () => {
      // distribution 2.8 has no referrers API: the bundle is listed in the fallback index.
      assert.ok(await getManifest(reg, repo, referrersFallbackTag(image.digest)));

      const r = await verify(`${reg.host}/${repo}:v1`, '--key', vendor.publicKeyPath);
      const o = assertAllowed(r, image.digest);
      assert.equal(o.signatures.length, 1, JSON.stringify(o.signatures));
      assert.equal(o.signatures[0]?.format, 'bundle');
      assert.match(o.signatures[0].id, /^referrer sha256:[0-9a-f]{64}$/);
      assert.equal(o.decision?.policies[0]?.signers[0]?.by?.signatureId, o.signatures[0].id);
      assert.deepEqual(o.attestations, []);
      assert.deepEqual(o.rejected, []);
    });

    it('denies the bundle under another key with SIGNATURE_INVALID', async () => {
      assertDenied(await verify(`${reg.host}/${repo}:v1`, '--key', qa.publicKeyPath), 1, 'SIGNATURE_INVALID');
    });

    it("denies another image's bundle re-attached to the image with SUBJECT_DIGEST_MISMATCH", async () => {
      // The attacker writes a new referrer manifest naming the victim as subject, reusing the
      // signed bundle blob of the other image, and lists it in the victim's fallback index.
      const victim = await pushImage(reg, repo, 'victim');
      const fallback = await getManifest(reg, repo, referrersFallbackTag(image.digest));
      assert.ok(fallback);
      const entry = (json(fallback.manifestBytes) as { manifests: { digest: string }[] }).manifests[0]!;
      const referrer = await getManifest(reg, repo, entry.digest);
      assert.ok(referrer);
      const forged = json(referrer.manifestBytes) as Record<string, unknown>;
      forged['subject'] = {
        mediaType: image.mediaType,
        digest: victim.digest,
        size: victim.manifestBytes.length,
      };
      const forgedBytes = Buffer.from(JSON.stringify(forged));
      const forgedDigest = await putManifest(
        reg,
        repo,
        sha256Digest(forgedBytes),
        forgedBytes,
        referrer.mediaType,
      );
      const index = json(fallback.manifestBytes) as { manifests: Record<string, unknown>[] };
      index.manifests = [{ ...index.manifests[0], digest: forgedDigest, size: forgedBytes.length }];
      await putManifest(
        reg,
        repo,
        referrersFallbackTag(victim.digest),
        Buffer.from(JSON.stringify(index)),
        fallback.mediaType,
      );

      const r = await verify(`${reg.host}/${repo}:victim`, '--key', vendor.publicKeyPath);
      const o = assertDenied(r, 1, 'SUBJECT_DIGEST_MISMATCH');
      assert.equal(o.signatures[0]?.id, `referrer ${forgedDigest}`);
    });

    it('lists a bundle of another predicate type under attestations and never counts it', async () => {
      const repo = 'interop/attestation';
      const image = await pushImage(reg, repo, 'v1');
      await cosignAttestBundle(reg, imageRef(reg, repo, image.digest), vendor.privateKeyPath, PASSWORD, [
        '--type',
        'https://countersign.example/qa-report/v1',
      ]);

      const r = await verify(`${reg.host}/${repo}:v1`, '--key', vendor.publicKeyPath);
      const o = assertDenied(r, 1, 'NO_SIGNATURES');
      assert.deepEqual(o.signatures, []);
      assert.deepEqual(
        o.attestations.map((a) => a.predicateType),
        ['https://countersign.example/qa-report/v1'],
      );
      assert.notEqual(o.attestations[0]?.predicateType, SIGN_PREDICATE);
    });

    it('keeps legacy signatures and attestations apart on one image', async () => {
      const repo = 'interop/mixed';
      const image = await pushSigned(repo, 'v1', vendor);
      await cosignAttestBundle(reg, imageRef(reg, repo, image.digest), qa.privateKeyPath, PASSWORD, [
        '--type',
        'https://countersign.example/qa-report/v1',
      ]);
      const o = assertAllowed(
        await verify(`${reg.host}/${repo}:v1`, '--key', vendor.publicKeyPath),
        image.digest,
      );
      assert.deepEqual(o.signatures, [
        { id: `${cosignSignatureTag(image.digest)}#0`, format: 'cosign-legacy' },
      ]);
      assert.equal(o.attestations.length, 1);
      // The qa key signed only an attestation: it satisfies nothing.
      assertDenied(await verify(`${reg.host}/${repo}:v1`, '--key', qa.publicKeyPath), 1, 'SIGNATURE_INVALID');
    });
  });

  describe('the signature manifest cosign writes', () => {
    it('is an OCI manifest of simple-signing layers (the format countersign reads)', async () => {
      const repo = 'interop/format';
      const image = await pushSigned(repo, 'v1', vendor);
      const sig = await getManifest(reg, repo, cosignSignatureTag(image.digest));
      assert.ok(sig);
      assert.equal(sig.mediaType, OCI_MANIFEST);
      const m = json(sig.manifestBytes) as SigManifest;
      assert.equal(m.layers[0]?.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
      assert.ok(m.layers[0].annotations?.['dev.cosignproject.cosign/signature']);
    });
  });
});
