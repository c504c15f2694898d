/**
 * `countersign verify` driven in-process through main() with a captured CliIO, against tiny fake
 * registries (node:http on 127.0.0.1) and hand-made OCI layouts: exit codes, reason codes, JSON
 * shape, and bad input that must end in a coded denial, never a stack trace or a hang.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { main } from '../../src/cli/main.ts';
import type { CliIO } from '../../src/cli/io.ts';
import type { VerificationOutcome } from '../../src/decision/verify-image.ts';
import { makeKey, payloadBytes, signWith } from '../verify/fixtures.ts';
import type { TestKey } from '../verify/fixtures.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
const SIG_ANNOTATION = 'dev.cosignproject.cosign/signature';
const REPO = 'team/app';
const projectRoot = path.resolve(import.meta.dirname, '..', '..');

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sigTag = (digest: string) => `${digest.replace(':', '-')}.sig`;

// ---------------------------------------------------------------------------------------------
// In-process CLI

interface CliResult {
  readonly exit: number;
  readonly stdout: string;
  readonly stderr: string;
}

let workDir = '';

async function cli(...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: {},
    cwd: workDir,
    version: '0.0.0-test',
  };
  const exit = await main(['verify', ...args], io);
  // Whatever happened, nothing may leak a JavaScript stack to the user.
  assert.doesNotMatch(stderr + stdout, /\n\s+at .+:\d+:\d+/, 'output contains a stack trace');
  return { exit, stdout, stderr };
}

function report(r: CliResult): VerificationOutcome {
  return JSON.parse(r.stdout) as VerificationOutcome;
}

/** Every signer's reason codes, in order: what the JSON says about each failed check. */
function reasonCodes(rep: VerificationOutcome): string[] {
  return (rep.decision?.policies ?? []).flatMap((p) =>
    p.signers.flatMap((s) => s.reasons.map((x) => x.code)),
  );
}

/** Exit code and the `[CODE]` main() prints on stderr for errors raised before a decision. */
function assertUsage(r: CliResult, code: string): void {
  assert.equal(r.exit, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`\\[${code}\\]`));
}

/** A decision printed as JSON: exit code and the report's reason code. */
function assertDenied(r: CliResult, exit: number, code: string): VerificationOutcome {
  assert.equal(r.exit, exit, r.stdout + r.stderr);
  const rep = report(r);
  assert.equal(rep.allowed, false);
  assert.equal(rep.code, code, rep.explanation);
  return rep;
}

// ---------------------------------------------------------------------------------------------
// Hand-made images and signatures

interface Stored {
  readonly mediaType: string;
  readonly bytes: Uint8Array;
}

/** A repository's content: manifests by tag and by digest, blobs by digest. */
class RepoContent {
  readonly manifests = new Map<string, Stored>();
  readonly blobs = new Map<string, Uint8Array>();
  /** Tags in the order added, for an OCI layout's index.json. */
  readonly tags: { tag: string; digest: string; mediaType: string; size: number }[] = [];

  putManifest(tag: string | undefined, mediaType: string, bytes: Uint8Array): string {
    const digest = sha256(bytes);
    this.manifests.set(digest, { mediaType, bytes });
    if (tag !== undefined) {
      this.manifests.set(tag, { mediaType, bytes });
      this.tags.push({ tag, digest, mediaType, size: bytes.length });
    }
    return digest;
  }

  putBlob(bytes: Uint8Array): string {
    const digest = sha256(bytes);
    this.blobs.set(digest, bytes);
    return digest;
  }
}

const EMPTY_CONFIG = enc('{}');

/** A random image manifest tagged `tag` (its config and layer blobs are never fetched). */
function addImage(repo: RepoContent, tag: string): string {
  const layer = randomBytes(32);
  return repo.putManifest(
    tag,
    OCI_MANIFEST,
    enc({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(EMPTY_CONFIG),
        size: 2,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: sha256(layer),
          size: layer.length,
        },
      ],
    }),
  );
}

interface SigLayer {
  readonly payload: Uint8Array;
  readonly annotations: Record<string, string>;
  readonly mediaType?: string;
}

/** A layer as `cosign sign --key` writes it. */
function cosignLayer(key: TestKey, digest: string, optional: Record<string, string> | null = null): SigLayer {
  const payload = payloadBytes(digest, optional);
  return {
    payload,
    annotations: { [SIG_ANNOTATION]: Buffer.from(signWith(key, payload, 'sha256')).toString('base64') },
  };
}

/** The `sha256-<hex>.sig` manifest for `digest` with the given layers. */
function addSignatures(repo: RepoContent, digest: string, layers: readonly SigLayer[]): void {
  repo.putBlob(EMPTY_CONFIG);
  const descriptors = layers.map((l) => ({
    mediaType: l.mediaType ?? SIMPLE_SIGNING,
    digest: repo.putBlob(l.payload),
    size: l.payload.length,
    annotations: l.annotations,
  }));
  repo.putManifest(
    sigTag(digest),
    OCI_MANIFEST,
    enc({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(EMPTY_CONFIG),
        size: 2,
      },
      layers: descriptors,
    }),
  );
}

/** Writes the content as an OCI image layout, tags as `org.opencontainers.image.ref.name`. */
async function writeLayout(repo: RepoContent, dir: string): Promise<void> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  for (const [digest, bytes] of repo.blobs) await writeFile(path.join(blobs, digest.slice(7)), bytes);
  for (const [ref, m] of repo.manifests)
    if (ref.startsWith('sha256:')) await writeFile(path.join(blobs, ref.slice(7)), m.bytes);
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: repo.tags.map((t) => ({
        mediaType: t.mediaType,
        digest: t.digest,
        size: t.size,
        annotations: { 'org.opencontainers.image.ref.name': t.tag },
      })),
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Fake registries

interface FakeRegistry {
  readonly host: string;
  close(): Promise<void>;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<FakeRegistry> {
  const sockets = new Set<Socket>();
  const server: Server = createServer(handler);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    host: `127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

function notFound(res: ServerResponse): void {
  const body = JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'not found' }] });
  res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** A distribution-like registry serving one repository's content; no referrers API (404). */
function serveRepo(repo: RepoContent): Promise<FakeRegistry> {
  return listen((req, res) => {
    const url = req.url ?? '';
    if (url === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/?]+)$/.exec(url);
    if (m === null || m[1] !== REPO) {
      notFound(res);
      return;
    }
    const ref = m[3] ?? '';
    const found =
      m[2] === 'manifests'
        ? repo.manifests.get(ref)
        : ((b) => (b === undefined ? undefined : { mediaType: 'application/octet-stream', bytes: b }))(
            repo.blobs.get(ref),
          );
    if (found === undefined) {
      notFound(res);
      return;
    }
    res.writeHead(200, { 'content-type': found.mediaType, 'content-length': found.bytes.length });
    res.end(found.bytes);
  });
}

// ---------------------------------------------------------------------------------------------

let key: TestKey;
let otherKey: TestKey;
let keyFile = '';
let otherKeyFile = '';

before(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'countersign-cli-verify-'));
  key = makeKey('p256');
  otherKey = makeKey('p256');
  keyFile = path.join(workDir, 'vendor.pub');
  otherKeyFile = path.join(workDir, 'other.pub');
  await writeFile(keyFile, key.publicPem);
  await writeFile(otherKeyFile, otherKey.publicPem);
});

after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('countersign verify', () => {
  describe('when the command line is wrong', () => {
    for (const ref of [
      'Registry.example/UPPER/repo:tag',
      'registry.example/repo@sha256:abc',
      'registry.example/repo:bad:tag',
      'registry.example/re po:1',
      'oci:',
    ]) {
      it(`exits 2 with INVALID_REFERENCE for "${ref}"`, async () => {
        assertUsage(await cli(ref, '--key', keyFile), 'INVALID_REFERENCE');
      });
    }

    it('exits 2 with USAGE when the --key file does not exist', async () => {
      const r = await cli('registry.example/team/app:v1', '--key', path.join(workDir, 'absent.pub'));
      assertUsage(r, 'USAGE');
      assert.match(r.stderr, /absent\.pub/);
    });

    it('exits 2 with KEY_INVALID when the --key file is not a public key', async () => {
      const garbage = path.join(workDir, 'garbage.pub');
      await writeFile(garbage, 'hello');
      assertUsage(await cli('registry.example/team/app:v1', '--key', garbage), 'KEY_INVALID');
    });

    it('exits 2 with USAGE for --threshold 0', async () => {
      assertUsage(await cli('registry.example/team/app:v1', '--key', keyFile, '--threshold', '0'), 'USAGE');
    });

    it('exits 2 with POLICY_INVALID for a --threshold above the number of signers', async () => {
      assertUsage(
        await cli(
          'registry.example/team/app:v1',
          '--key',
          keyFile,
          '--key',
          otherKeyFile,
          '--threshold',
          '3',
        ),
        'POLICY_INVALID',
      );
    });

    it('counts the same key given twice as one signer (threshold 2 is refused)', async () => {
      const copy = path.join(workDir, 'vendor-copy.pub');
      await writeFile(copy, key.publicPem);
      assertUsage(
        await cli('registry.example/team/app:v1', '--key', keyFile, '--key', copy, '--threshold', '2'),
        'POLICY_INVALID',
      );
    });

    it('exits 2 with USAGE for a bad --timeout', async () => {
      assertUsage(await cli('registry.example/team/app:v1', '--key', keyFile, '--timeout', '0'), 'USAGE');
    });

    it('exits 2 with USAGE for an unknown flag', async () => {
      assertUsage(await cli('registry.example/team/app:v1', '--key', keyFile, '--no-such-flag'), 'USAGE');
    });

    it('exits 2 with USAGE without any trust', async () => {
      assertUsage(await cli('registry.example/team/app:v1'), 'USAGE');
    });

    it('exits 2 with USAGE for a malformed -a', async () => {
      assertUsage(await cli('registry.example/team/app:v1', '--key', keyFile, '-a', 'novalue'), 'USAGE');
    });

    it('exits 2 with USAGE for a bad --output or --max-signature-bytes', async () => {
      assertUsage(await cli('registry.example/team/app:v1', '--key', keyFile, '-o', 'yaml'), 'USAGE');
      assertUsage(
        await cli('registry.example/team/app:v1', '--key', keyFile, '--max-signature-bytes', '-1'),
        'USAGE',
      );
    });

    it('exits 2 as a process too, with the code and no stack trace', async () => {
      const r = await execa(
        process.execPath,
        ['src/cli/main.ts', 'verify', 'registry.example/team/app:v1', '--bogus'],
        { cwd: projectRoot, reject: false, timeout: 30_000 },
      );
      assert.equal(r.exitCode, 2);
      assert.match(r.stderr, /\[USAGE\]/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
  });

  describe('when a registry serves a signed image', () => {
    let registry: FakeRegistry;
    let digest = '';

    before(async () => {
      const repo = new RepoContent();
      digest = addImage(repo, 'v1');
      addSignatures(repo, digest, [cosignLayer(key, digest, { team: 'radiology' })]);
      registry = await serveRepo(repo);
    });
    after(() => registry.close());

    it('allows it and prints the JSON report with digest, pinned reference and checks', async () => {
      const r = await cli(
        `${registry.host}/${REPO}:v1`,
        '--key',
        keyFile,
        '--insecure-registry',
        registry.host,
        '--output',
        'json',
      );
      assert.equal(r.exit, 0, r.stdout + r.stderr);
      const rep = report(r);
      assert.equal(rep.allowed, true);
      assert.equal(rep.code, null);
      assert.equal(rep.image, `${registry.host}/${REPO}:v1`);
      assert.equal(rep.name, `${registry.host}/${REPO}`);
      assert.equal(rep.digest, digest);
      assert.equal(rep.pinned, `${registry.host}/${REPO}@${digest}`);
      assert.deepEqual(rep.signatures, [{ id: `${sigTag(digest)}#0`, format: 'cosign-legacy' }]);
      const policy = rep.decision?.policies[0];
      assert.ok(policy);
      assert.equal(rep.decision.policies.length, 1);
      assert.equal(policy.passed, true);
      assert.equal(policy.threshold, 1);
      assert.equal(policy.satisfied, 1);
      assert.deepEqual(
        policy.signers.map((s) => ({ name: s.name, satisfied: s.satisfied, by: s.by?.identityKey })),
        [{ name: keyFile, satisfied: true, by: `key:${key.material.fingerprint}` }],
      );
      assert.equal(policy.signers[0]?.by?.signatureId, `${sigTag(digest)}#0`);
      assert.deepEqual(rep.rejected, []);
      assert.deepEqual(rep.attestations, []);
      assert.match(rep.explanation, /^allowed/);
    });

    it('reads --key files relative to the working directory, whatever characters their names hold', async () => {
      const odd = path.join(workDir, 'keys #1 %20');
      await mkdir(odd, { recursive: true });
      await writeFile(path.join(odd, 'vendor?.pub'), key.publicPem);
      for (const file of [path.join(odd, 'vendor?.pub'), path.join('keys #1 %20', 'vendor?.pub')]) {
        const r = await cli(
          `${registry.host}/${REPO}:v1`,
          '--key',
          file,
          '--insecure-registry',
          registry.host,
        );
        assert.equal(r.exit, 0, r.stderr + r.stdout);
      }
    });

    it('prints a text report naming the pinned reference by default', async () => {
      const r = await cli(
        `${registry.host}/${REPO}:v1`,
        '--key',
        keyFile,
        '--insecure-registry',
        registry.host,
      );
      assert.equal(r.exit, 0);
      assert.match(r.stdout, /^ALLOWED /);
      assert.ok(r.stdout.includes(`run: ${registry.host}/${REPO}@${digest}`));
    });

    it('allows it pinned by digest', async () => {
      const r = await cli(
        `${registry.host}/${REPO}@${digest}`,
        '--key',
        keyFile,
        '--insecure-registry',
        registry.host,
        '-o',
        'json',
      );
      assert.equal(r.exit, 0);
      assert.equal(report(r).digest, digest);
    });

    it('denies another key with exit 1, SIGNATURE_INVALID, and the code in checks[]', async () => {
      const r = await cli(
        `${registry.host}/${REPO}:v1`,
        '--key',
        otherKeyFile,
        '--insecure-registry',
        registry.host,
        '-o',
        'json',
      );
      const rep = assertDenied(r, 1, 'SIGNATURE_INVALID');
      assert.equal(rep.digest, digest);
      assert.deepEqual(rep.signatures, [{ id: `${sigTag(digest)}#0`, format: 'cosign-legacy' }]);
      assert.deepEqual(reasonCodes(rep), ['SIGNATURE_INVALID']);
      assert.equal(rep.decision?.policies[0]?.signers[0]?.satisfied, false);
    });

    it('checks -a annotations: the signed one allows, another denies with ANNOTATION_MISMATCH', async () => {
      const base = [
        `${registry.host}/${REPO}:v1`,
        '--key',
        keyFile,
        '--insecure-registry',
        registry.host,
        '-o',
        'json',
      ];
      assert.equal((await cli(...base, '-a', 'team=radiology')).exit, 0);
      assertDenied(await cli(...base, '-a', 'team=other'), 1, 'ANNOTATION_MISMATCH');
    });

    it('denies threshold 2 when only one of two keys signed with THRESHOLD_NOT_MET', async () => {
      const r = await cli(
        `${registry.host}/${REPO}:v1`,
        '--key',
        keyFile,
        '--key',
        otherKeyFile,
        '--threshold',
        '2',
        '--insecure-registry',
        registry.host,
        '-o',
        'json',
      );
      const rep = assertDenied(r, 1, 'THRESHOLD_NOT_MET');
      assert.deepEqual(
        rep.decision?.policies[0]?.signers.map((s) => [s.name, s.satisfied]),
        [
          [keyFile, true],
          [otherKeyFile, false],
        ],
      );
    });

    it('denies a tag that does not exist with MANIFEST_NOT_FOUND', async () => {
      assertDenied(
        await cli(
          `${registry.host}/${REPO}:nope`,
          '--key',
          keyFile,
          '--insecure-registry',
          registry.host,
          '-o',
          'json',
        ),
        1,
        'MANIFEST_NOT_FOUND',
      );
    });

    it('refuses plain HTTP unless the registry is named insecure (exit 3)', async () => {
      const r = await cli(`${registry.host}/${REPO}:v1`, '--key', keyFile, '-o', 'json');
      assert.equal(r.exit, 3, r.stdout);
      assert.equal(report(r).code, 'REGISTRY_TLS_ERROR');
    });
  });

  describe('when the registry serves bad data', () => {
    async function verifyAgainst(repo: RepoContent, ...extra: string[]): Promise<CliResult> {
      const registry = await serveRepo(repo);
      try {
        return await cli(
          `${registry.host}/${REPO}:v1`,
          '--key',
          keyFile,
          '--insecure-registry',
          registry.host,
          '-o',
          'json',
          ...extra,
        );
      } finally {
        await registry.close();
      }
    }

    it('denies a garbage manifest with MANIFEST_INVALID', async () => {
      const repo = new RepoContent();
      repo.putManifest('v1', OCI_MANIFEST, enc('this is not a manifest'));
      assertDenied(await verifyAgainst(repo), 1, 'MANIFEST_INVALID');
    });

    it('denies a schema 1 manifest with MANIFEST_SCHEMA1', async () => {
      const repo = new RepoContent();
      repo.putManifest(
        'v1',
        'application/vnd.docker.distribution.manifest.v1+prettyjws',
        enc({ schemaVersion: 1, name: REPO, tag: 'v1', fsLayers: [], history: [], signatures: [] }),
      );
      assertDenied(await verifyAgainst(repo), 1, 'MANIFEST_SCHEMA1');
    });

    it('denies a schema 1 manifest served under a schema 2 media type with MANIFEST_SCHEMA1', async () => {
      const repo = new RepoContent();
      repo.putManifest('v1', OCI_MANIFEST, enc({ schemaVersion: 1, name: REPO, tag: 'v1', fsLayers: [] }));
      assertDenied(await verifyAgainst(repo), 1, 'MANIFEST_SCHEMA1');
    });

    it('denies an unsigned image with NO_SIGNATURES', async () => {
      const repo = new RepoContent();
      addImage(repo, 'v1');
      const rep = assertDenied(await verifyAgainst(repo), 1, 'NO_SIGNATURES');
      assert.deepEqual(rep.signatures, []);
    });

    it('denies a signature annotation that is not base64 with SIGNATURE_ENCODING_INVALID', async () => {
      const repo = new RepoContent();
      const digest = addImage(repo, 'v1');
      addSignatures(repo, digest, [
        { payload: payloadBytes(digest), annotations: { [SIG_ANNOTATION]: '%%%not-base64%%%' } },
      ]);
      const rep = assertDenied(await verifyAgainst(repo), 1, 'SIGNATURE_ENCODING_INVALID');
      assert.equal(rep.rejected[0]?.code, 'SIGNATURE_ENCODING_INVALID');
    });

    it('denies a layer without a signature annotation with NOT_A_SIGNATURE', async () => {
      const repo = new RepoContent();
      const digest = addImage(repo, 'v1');
      addSignatures(repo, digest, [{ payload: payloadBytes(digest), annotations: {} }]);
      assertDenied(await verifyAgainst(repo), 1, 'NOT_A_SIGNATURE');
    });

    it('denies a signed payload that is not JSON with PAYLOAD_INVALID', async () => {
      const repo = new RepoContent();
      const digest = addImage(repo, 'v1');
      const payload = enc('definitely { not json');
      addSignatures(repo, digest, [
        {
          payload,
          annotations: { [SIG_ANNOTATION]: Buffer.from(signWith(key, payload, 'sha256')).toString('base64') },
        },
      ]);
      const rep = assertDenied(await verifyAgainst(repo), 1, 'PAYLOAD_INVALID');
      assert.deepEqual(reasonCodes(rep), ['PAYLOAD_INVALID']);
    });

    it('denies a signature manifest taken from another image with PAYLOAD_DIGEST_MISMATCH', async () => {
      const repo = new RepoContent();
      const digest = addImage(repo, 'v1');
      const other = addImage(repo, 'v2');
      addSignatures(repo, digest, [cosignLayer(key, other)]);
      assertDenied(await verifyAgainst(repo), 1, 'PAYLOAD_DIGEST_MISMATCH');
    });

    it('denies a signature blob over --max-signature-bytes with SIZE_LIMIT_EXCEEDED', async () => {
      const repo = new RepoContent();
      const digest = addImage(repo, 'v1');
      addSignatures(repo, digest, [cosignLayer(key, digest)]);
      const rep = assertDenied(
        await verifyAgainst(repo, '--max-signature-bytes', '64'),
        1,
        'SIZE_LIMIT_EXCEEDED',
      );
      assert.equal(rep.rejected[0]?.code, 'SIZE_LIMIT_EXCEEDED');
    });

    it('denies a signature blob that is larger than its descriptor says with SIZE_LIMIT_EXCEEDED', async () => {
      const repo = new RepoContent();
      const digest = addImage(repo, 'v1');
      const layer = cosignLayer(key, digest);
      addSignatures(repo, digest, [layer]);
      // Rewrite the .sig manifest so the descriptor understates the blob's size.
      const sig = repo.manifests.get(sigTag(digest))!;
      const doc = JSON.parse(Buffer.from(sig.bytes).toString('utf8')) as { layers: { size: number }[] };
      doc.layers[0]!.size = 10;
      repo.putManifest(sigTag(digest), OCI_MANIFEST, enc(doc));
      assertDenied(await verifyAgainst(repo, '--max-signature-bytes', '64'), 1, 'SIZE_LIMIT_EXCEEDED');
    });

    it('denies a registry answering 500 with exit 3 and REGISTRY_ERROR', async () => {
      const registry = await listen((_req, res) => {
        res.writeHead(500);
        res.end();
      });
      try {
        const r = await cli(
          `${registry.host}/${REPO}:v1`,
          '--key',
          keyFile,
          '--insecure-registry',
          registry.host,
          '-o',
          'json',
        );
        assertDenied(r, 3, 'REGISTRY_ERROR');
      } finally {
        await registry.close();
      }
    });
  });

  describe('when the registry cannot be reached', () => {
    it('denies a registry that is down with exit 3 and REGISTRY_UNREACHABLE', async () => {
      const registry = await listen(() => undefined);
      const host = registry.host;
      await registry.close();
      const r = await cli(`${host}/${REPO}:v1`, '--key', keyFile, '--insecure-registry', host, '-o', 'json');
      assertDenied(r, 3, 'REGISTRY_UNREACHABLE');
    });

    it('denies a registry that never answers with exit 3 and REGISTRY_TIMEOUT at --timeout', async () => {
      const registry = await listen(() => undefined);
      try {
        const started = Date.now();
        const r = await cli(
          `${registry.host}/${REPO}:v1`,
          '--key',
          keyFile,
          '--insecure-registry',
          registry.host,
          '--timeout',
          '1',
          '-o',
          'json',
        );
        const elapsed = Date.now() - started;
        assertDenied(r, 3, 'REGISTRY_TIMEOUT');
        assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
      } finally {
        await registry.close();
      }
    });
  });

  describe('when the image is in an OCI layout', () => {
    it('allows a signed image and pins it as oci:DIR@digest', async () => {
      const repo = new RepoContent();
      const digest = addImage(repo, 'v1');
      addSignatures(repo, digest, [cosignLayer(key, digest)]);
      const dir = path.join(workDir, 'layout-ok');
      await writeLayout(repo, dir);
      const r = await cli(`oci:${dir}:v1`, '--key', keyFile, '-o', 'json');
      assert.equal(r.exit, 0, r.stdout + r.stderr);
      const rep = report(r);
      assert.equal(rep.digest, digest);
      assert.equal(rep.pinned, `oci:${dir}@${digest}`);
    });

    it('denies a garbage manifest blob with MANIFEST_INVALID', async () => {
      const repo = new RepoContent();
      repo.putManifest('v1', OCI_MANIFEST, enc('[1,2,3]'));
      const dir = path.join(workDir, 'layout-garbage');
      await writeLayout(repo, dir);
      assertDenied(await cli(`oci:${dir}:v1`, '--key', keyFile, '-o', 'json'), 1, 'MANIFEST_INVALID');
    });

    it('denies an invalid base64 signature with SIGNATURE_ENCODING_INVALID', async () => {
      const repo = new RepoContent();
      const digest = addImage(repo, 'v1');
      addSignatures(repo, digest, [
        { payload: payloadBytes(digest), annotations: { [SIG_ANNOTATION]: 'a' } },
      ]);
      const dir = path.join(workDir, 'layout-b64');
      await writeLayout(repo, dir);
      assertDenied(
        await cli(`oci:${dir}:v1`, '--key', keyFile, '-o', 'json'),
        1,
        'SIGNATURE_ENCODING_INVALID',
      );
    });

    it('denies an oversized signature blob with SIZE_LIMIT_EXCEEDED', async () => {
      const repo = new RepoContent();
      const digest = addImage(repo, 'v1');
      addSignatures(repo, digest, [cosignLayer(key, digest)]);
      const dir = path.join(workDir, 'layout-big');
      await writeLayout(repo, dir);
      assertDenied(
        await cli(`oci:${dir}:v1`, '--key', keyFile, '--max-signature-bytes', '32', '-o', 'json'),
        1,
        'SIZE_LIMIT_EXCEEDED',
      );
    });

    it('denies a directory that is not a layout with exit 3 and LAYOUT_UNREADABLE', async () => {
      const dir = path.join(workDir, 'not-a-layout');
      await mkdir(dir, { recursive: true });
      assertDenied(await cli(`oci:${dir}:v1`, '--key', keyFile, '-o', 'json'), 3, 'LAYOUT_UNREADABLE');
    });
  });
});
