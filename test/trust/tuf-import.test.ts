import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CliIO } from '../../src/cli/io.ts';
import { run } from '../../src/cli/trust-root.ts';
import { isCountersignError } from '../../src/errors.ts';
import { parseTrustedRoot } from '../../src/trust/index.ts';
import { DirectoryFetcher, importTrustedRootFromTuf } from '../../src/trust/tuf-import.ts';
import type { TufImportOptions } from '../../src/trust/tuf-import.ts';
import { TufRepository, generateTufKey } from '../support/tuf-repo.ts';
import { VirtualSigstore } from '../support/virtual-sigstore.ts';

const DAY = 24 * 60 * 60 * 1000;

function refusedWith(pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(isCountersignError(e), `not a CountersignError: ${String(e)}`);
    assert.equal(e.code, 'TRUST_ROOT_INVALID');
    assert.match(e.message, pattern);
    return true;
  };
}

describe('importTrustedRootFromTuf', () => {
  let work: string;
  let trustedRootBytes: Buffer;
  let n = 0;
  /** A fresh directory under the test's work directory. */
  const fresh = (name: string): string => join(work, `${name}-${++n}`);

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'countersign-tuf-import-'));
    const sigstore = await VirtualSigstore.create();
    trustedRootBytes = Buffer.from(`${JSON.stringify(sigstore.trustedRoot({ withTsa: true }), null, 2)}\n`);
  });
  after(() => {
    rmSync(work, { recursive: true, force: true });
  });

  let repo: TufRepository;
  let pinned: string;
  beforeEach(() => {
    repo = new TufRepository();
    repo.setTarget('trusted_root.json', trustedRootBytes);
    pinned = fresh('pinned.root.json');
    writeFileSync(pinned, repo.pinnedRoot);
  });

  const options = (dir: string, extra: Partial<TufImportOptions> = {}): TufImportOptions => ({
    repositoryDir: dir,
    pinnedRootPath: pinned,
    outPath: join(fresh('out'), 'trusted_root.json'),
    ...extra,
  });

  describe('when the repository is valid', () => {
    it('writes the trusted_root.json target byte for byte and reports what it imported', async () => {
      const { dir } = repo.publish(fresh('repo'));
      const opts = options(dir);
      const result = await importTrustedRootFromTuf(opts);
      const written = readFileSync(opts.outPath);
      assert.deepEqual(written, trustedRootBytes);
      assert.equal(result.sha256, createHash('sha256').update(trustedRootBytes).digest('hex'));
      assert.deepEqual(
        [result.rootVersion, result.timestampVersion, result.snapshotVersion, result.targetsVersion],
        [1, 1, 1, 1],
      );
      assert.deepEqual(result.counts, {
        certificateAuthorities: 1,
        tlogs: 1,
        ctlogs: 1,
        timestampAuthorities: 1,
      });
      assert.equal(
        parseTrustedRoot(JSON.parse(written.toString('utf8')), 'written').fingerprint,
        result.trustRoot.fingerprint,
      );
      // The default cache sits next to --out.
      assert.ok(existsSync(join(opts.outPath, '..', '.tuf-cache', 'timestamp.json')));
    });

    it('reads a repository without consistent snapshots (snapshot.json, targets/trusted_root.json)', async () => {
      const plain = new TufRepository({ consistentSnapshot: false });
      plain.setTarget('trusted_root.json', trustedRootBytes);
      writeFileSync(pinned, plain.pinnedRoot);
      const published = plain.publish(fresh('repo'));
      assert.ok(existsSync(join(published.dir, 'snapshot.json')));
      assert.equal(
        published.targetFiles.get('trusted_root.json'),
        join(published.dir, 'targets', 'trusted_root.json'),
      );
      const opts = options(published.dir);
      await importTrustedRootFromTuf(opts);
      assert.deepEqual(readFileSync(opts.outPath), trustedRootBytes);
    });

    it('follows a root rotation v1 to v2 signed by old and new keys', async () => {
      repo.rotateRoot({ rotateOnlineKeys: true });
      const { dir } = repo.publish(fresh('repo'));
      const result = await importTrustedRootFromTuf(options(dir));
      assert.equal(result.rootVersion, 2);
    });

    it('accepts a newer snapshot with the same cache', async () => {
      const cacheDir = fresh('cache');
      await importTrustedRootFromTuf(options(repo.publish(fresh('repo')).dir, { cacheDir }));
      const result = await importTrustedRootFromTuf(options(repo.publish(fresh('repo')).dir, { cacheDir }));
      assert.equal(result.timestampVersion, 2);
    });
  });

  describe('when the metadata is not trustworthy', () => {
    it('refuses a rotated root that the previous root keys did not sign', async () => {
      repo.rotateRoot({ signWithPreviousKeys: false });
      const { dir } = repo.publish(fresh('repo'));
      await assert.rejects(
        importTrustedRootFromTuf(options(dir)),
        refusedWith(/signature threshold not met.*root was signed by 0\/1/),
      );
    });

    it('refuses targets metadata signed by a key the root does not list, and writes nothing', async () => {
      const { dir } = repo.publish(fresh('repo'), { targetsSignedBy: generateTufKey() });
      const opts = options(dir);
      await assert.rejects(
        importTrustedRootFromTuf(opts),
        refusedWith(/signature threshold not met.*targets was signed by 0\/1/),
      );
      assert.equal(existsSync(opts.outPath), false);
    });

    it('refuses an expired timestamp', async () => {
      const { dir } = repo.publish(fresh('repo'), { expires: { timestamp: new Date(Date.now() - DAY) } });
      await assert.rejects(
        importTrustedRootFromTuf(options(dir)),
        refusedWith(/expired metadata.*timestamp/),
      );
    });

    it('refuses an expired snapshot', async () => {
      const { dir } = repo.publish(fresh('repo'), { expires: { snapshot: new Date(Date.now() - DAY) } });
      await assert.rejects(importTrustedRootFromTuf(options(dir)), refusedWith(/expired metadata.*snapshot/));
    });

    it('refuses a rollback: an older snapshot after a newer one with the same cache', async () => {
      const older = repo.publish(fresh('repo'));
      const newer = repo.publish(fresh('repo'));
      const cacheDir = fresh('cache');
      await importTrustedRootFromTuf(options(newer.dir, { cacheDir }));
      const opts = options(older.dir, { cacheDir });
      await assert.rejects(
        importTrustedRootFromTuf(opts),
        refusedWith(/rollback.*version 1 is less than current version 2/),
      );
      assert.equal(existsSync(opts.outPath), false);
    });
  });

  describe('when the target is wrong', () => {
    it('refuses a target file whose bytes do not match its hash', async () => {
      const tampered = Buffer.from(trustedRootBytes);
      tampered[tampered.length - 2] = 0x20;
      const { dir } = repo.publish(fresh('repo'), {
        targetFileOverride: { name: 'trusted_root.json', bytes: tampered },
      });
      const opts = options(dir);
      await assert.rejects(
        importTrustedRootFromTuf(opts),
        refusedWith(/does not match the length or hashes/),
      );
      assert.equal(existsSync(opts.outPath), false);
    });

    it('refuses a target that is not a valid trusted root, and leaves --out as it was', async () => {
      repo.setTarget(
        'trusted_root.json',
        Buffer.from(
          JSON.stringify({
            mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
            tlogs: [{}],
          }),
        ),
      );
      const { dir } = repo.publish(fresh('repo'));
      const opts = options(dir);
      await assert.rejects(
        importTrustedRootFromTuf(opts),
        refusedWith(/not a valid trusted root: .*tlogs\[0\]/),
      );
      assert.equal(existsSync(opts.outPath), false);
    });

    it('refuses a repository that does not list trusted_root.json', async () => {
      const empty = new TufRepository();
      writeFileSync(pinned, empty.pinnedRoot);
      const { dir } = empty.publish(fresh('repo'));
      await assert.rejects(
        importTrustedRootFromTuf(options(dir)),
        refusedWith(/does not list trusted_root\.json/),
      );
    });

    it('refuses a target file that links outside the repository directory', async () => {
      const published = repo.publish(fresh('repo'));
      const file = published.targetFiles.get('trusted_root.json')!;
      const outside = fresh('outside.json');
      writeFileSync(outside, trustedRootBytes);
      unlinkSync(file);
      symlinkSync(outside, file);
      await assert.rejects(
        importTrustedRootFromTuf(options(published.dir)),
        refusedWith(/links outside the repository directory/),
      );
    });
  });

  describe('when files are missing', () => {
    it('names a missing timestamp.json', async () => {
      const { dir } = repo.publish(fresh('repo'));
      unlinkSync(join(dir, 'timestamp.json'));
      await assert.rejects(
        importTrustedRootFromTuf(options(dir)),
        refusedWith(/missing metadata or target file.*timestamp\.json/),
      );
    });

    it('names a missing snapshot', async () => {
      const { dir, version } = repo.publish(fresh('repo'));
      unlinkSync(join(dir, `${version}.snapshot.json`));
      await assert.rejects(
        importTrustedRootFromTuf(options(dir)),
        refusedWith(/missing metadata or target file.*1\.snapshot\.json/),
      );
    });

    it('refuses a repository directory that does not exist', async () => {
      await assert.rejects(
        importTrustedRootFromTuf(options(fresh('nowhere'))),
        refusedWith(/not a readable directory/),
      );
    });
  });

  describe('when the pinned root or cache is wrong', () => {
    it('refuses a pinned root that is not TUF root metadata', async () => {
      writeFileSync(pinned, '{"signed":{"_type":"targets","version":1}}');
      const { dir } = repo.publish(fresh('repo'));
      await assert.rejects(importTrustedRootFromTuf(options(dir)), refusedWith(/not TUF root metadata/));
    });

    it('refuses a pinned root whose signature does not verify, and does not keep it in the cache', async () => {
      const doc = JSON.parse(repo.pinnedRoot.toString('utf8')) as { signed: { expires: string } };
      doc.signed.expires = '2099-01-01T00:00:00Z';
      writeFileSync(pinned, JSON.stringify(doc));
      const cacheDir = fresh('cache');
      const { dir } = repo.publish(fresh('repo'));
      await assert.rejects(
        importTrustedRootFromTuf(options(dir, { cacheDir })),
        refusedWith(/not valid self-signed TUF root metadata/),
      );
      assert.equal(existsSync(join(cacheDir, 'root.json')), false);
    });

    it('refuses a cache that was started from another repository root', async () => {
      const cacheDir = fresh('cache');
      repo.rotateRoot();
      await importTrustedRootFromTuf(options(repo.publish(fresh('repo')).dir, { cacheDir }));
      const other = new TufRepository();
      other.setTarget('trusted_root.json', trustedRootBytes);
      writeFileSync(pinned, other.pinnedRoot);
      await assert.rejects(
        importTrustedRootFromTuf(options(other.publish(fresh('repo')).dir, { cacheDir })),
        refusedWith(/not one the TUF cache .* has trusted/),
      );
    });

    it('accepts a later pin of a root the cache reached by rotation', async () => {
      const cacheDir = fresh('cache');
      repo.rotateRoot();
      await importTrustedRootFromTuf(options(repo.publish(fresh('repo')).dir, { cacheDir }));
      writeFileSync(pinned, repo.root(2));
      const result = await importTrustedRootFromTuf(options(repo.publish(fresh('repo')).dir, { cacheDir }));
      assert.equal(result.rootVersion, 2);
    });
  });
});

describe('DirectoryFetcher', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'countersign-tuf-fetcher-'));
    writeFileSync(join(dir, 'timestamp.json'), '{}');
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a file inside the directory', async () => {
    const bytes = await new DirectoryFetcher(dir).downloadBytes(
      `${pathToFileURL(dir).href}/timestamp.json`,
      100,
    );
    assert.equal(bytes.toString(), '{}');
  });

  it('refuses http(s) URLs without connecting', async () => {
    await assert.rejects(
      new DirectoryFetcher(dir).downloadBytes('https://tuf-repo-cdn.sigstore.dev/timestamp.json', 100),
      /only files inside the repository directory/,
    );
  });

  it('refuses paths that climb out of the directory', async () => {
    await assert.rejects(
      new DirectoryFetcher(dir).downloadBytes(`${pathToFileURL(dir).href}/%2e%2e/%2e%2e/etc/passwd`, 100_000),
      /outside the repository directory/,
    );
    await assert.rejects(
      new DirectoryFetcher(dir).downloadBytes('file:///etc/passwd', 100_000),
      /outside the repository directory/,
    );
  });
});

describe('countersign trust-root import-tuf', () => {
  let dir: string;
  let trustedRootBytes: Buffer;
  let repo: TufRepository;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'countersign-tuf-cli-'));
    const sigstore = await VirtualSigstore.create();
    trustedRootBytes = Buffer.from(JSON.stringify(sigstore.trustedRoot()));
    repo = new TufRepository();
    repo.setTarget('trusted_root.json', trustedRootBytes);
    writeFileSync(join(dir, 'pinned-root.json'), repo.pinnedRoot);
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function captureIO(): { io: CliIO; out: string[]; err: string[] } {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIO = {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      env: {},
      cwd: dir,
      version: 'test',
    };
    return { io, out, err };
  }

  it('imports from a relative DIR, prints versions, sha256 and counts, and refuses a rollback with exit 2', async () => {
    repo.publish(join(dir, 'usb-old'));
    repo.rotateRoot();
    repo.publish(join(dir, 'usb-new'));
    const args = (usb: string): string[] => [
      'import-tuf',
      usb,
      '--root',
      'pinned-root.json',
      '--out',
      'trust-root/public-good/trusted_root.json',
    ];

    const ok = captureIO();
    assert.equal(await run(args('usb-new'), ok.io), 0, ok.err.join(''));
    const sha256 = createHash('sha256').update(trustedRootBytes).digest('hex');
    const text = ok.out.join('');
    assert.match(text, /TUF root version 2, timestamp version 2, snapshot version 2, targets version 2/);
    assert.match(text, new RegExp(`trusted_root\\.json sha256 ${sha256}`));
    assert.match(text, /certificate authorities: 1, tlogs: 1, ctlogs: 1, timestamp authorities: 0/);
    assert.deepEqual(readFileSync(join(dir, 'trust-root/public-good/trusted_root.json')), trustedRootBytes);
    assert.ok(existsSync(join(dir, 'trust-root/public-good/.tuf-cache/root.json')));

    const old = captureIO();
    assert.equal(await run(args('usb-old'), old.io), 2);
    assert.match(old.err.join(''), /rollback.*\[TRUST_ROOT_INVALID\]/);
  });

  it('answers a missing --root with a usage error', async () => {
    const c = captureIO();
    assert.equal(await run(['import-tuf', 'usb', '--out', 'x.json'], c.io), 2);
    assert.match(c.err.join(''), /--root and --out are required \[USAGE\]/);
  });
});
