/**
 * Import a Sigstore `trusted_root.json` from a TUF repository snapshot copied onto removable media.
 *
 * The directory holds the metadata as a Sigstore TUF mirror serves it (`N.root.json`,
 * `timestamp.json`, `N.snapshot.json`, `N.targets.json`, delegated roles) and the targets under
 * `targets/` (`<sha256>.trusted_root.json` with consistent snapshots). tuf-js runs the TUF client
 * workflow (TUF specification v1.0, section 5) over it, starting from a root the operator pins:
 * root rotations (5.3), signature thresholds, versions against rollback (5.3.5, 5.4.3, 5.5.5) and
 * expiry against freeze attacks (5.4.4, 5.5.6, 5.6.5), and the target's length and hashes
 * (5.7.3). The fetcher only reads files inside the directory: nothing touches the network.
 *
 * The trusted TUF state (last root, timestamp, snapshot, targets) is kept in a cache directory, so
 * that a later import of an older snapshot is refused as a rollback. This module is an I/O edge:
 * the validation of the target itself is the pure `parseTrustedRoot`.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ReadableStream } from 'node:stream/web';
import { BaseFetcher, Updater } from 'tuf-js';
// tuf-js ends its search for newer roots (TUF 5.3.3) only on a DownloadHTTPError with status 404,
// and does not export that class from its entry point; tuf-js has no `exports` map, so this path
// is public in practice (pinned by the tuf-js major version in package.json).
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { CountersignError } from '../errors.ts';
import { parseTrustedRootText } from './load.ts';
import type { TrustRoot } from './trusted-root.ts';

/** The target name Sigstore publishes its trust root under (sigstore-js @sigstore/tuf). */
export const TRUSTED_ROOT_TARGET = 'trusted_root.json';

/** No TUF metadata or trust root file comes anywhere near this; larger files are refused unread. */
const MAX_FILE_BYTES = 32 * 1024 * 1024;
/** Records which pinned roots this cache has started from (see `bindCacheToPinnedRoot`). */
const PINS_FILE = 'countersign-pins.json';

export interface TufImportOptions {
  /** The TUF repository snapshot (metadata at its top, targets under `targets/`). */
  readonly repositoryDir: string;
  /** The root.json the operator trusts: the start of the chain. Never fetched. */
  readonly pinnedRootPath: string;
  /** Where the verified trusted_root.json is written (atomically). */
  readonly outPath: string;
  /** The trusted TUF state between imports (default: `.tuf-cache` next to `outPath`). */
  readonly cacheDir?: string;
  /** Target to import (default `trusted_root.json`). */
  readonly targetName?: string;
}

export interface TufImportResult {
  readonly rootVersion: number;
  readonly timestampVersion: number;
  readonly snapshotVersion: number;
  readonly targetsVersion: number;
  /** sha256 hex of the target bytes written to `outPath` (as listed in targets metadata). */
  readonly sha256: string;
  readonly length: number;
  readonly trustRoot: TrustRoot;
  readonly counts: {
    readonly certificateAuthorities: number;
    readonly tlogs: number;
    readonly ctlogs: number;
    readonly timestampAuthorities: number;
  };
  readonly outPath: string;
  readonly cacheDir: string;
}

export function defaultTufCacheDir(outPath: string): string {
  return join(dirname(resolve(outPath)), '.tuf-cache');
}

/**
 * Verifies the repository snapshot in `repositoryDir` from the pinned root and writes its
 * trusted_root.json target to `outPath`. Throws CountersignError TRUST_ROOT_INVALID naming the
 * cause (expired metadata, rollback, signature threshold, hash mismatch, missing file, invalid
 * trust root); `outPath` is untouched on any failure.
 */
export async function importTrustedRootFromTuf(options: TufImportOptions): Promise<TufImportResult> {
  const repositoryDir = resolve(options.repositoryDir);
  const outPath = resolve(options.outPath);
  const cacheDir = resolve(options.cacheDir ?? defaultTufCacheDir(outPath));
  const targetName = options.targetName ?? TRUSTED_ROOT_TARGET;

  let repoReal: string;
  try {
    if (!statSync(repositoryDir).isDirectory()) throw new Error('not a directory');
    repoReal = realpathSync(repositoryDir);
  } catch {
    throw refused(repositoryDir, `${repositoryDir} is not a readable directory`);
  }
  const pinnedBytes = readSmallFile(options.pinnedRootPath, 'pinned root');
  const pinnedVersion = rootVersionOf(pinnedBytes, options.pinnedRootPath);

  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const { pins, seeded, undo } = bindCacheToPinnedRoot(cacheDir, pinnedBytes, pinnedVersion);

  const fetcher = new DirectoryFetcher(repoReal);
  const baseUrl = pathToFileURL(repoReal).href;
  const work = mkdtempSync(join(tmpdir(), 'countersign-tuf-'));
  try {
    let targetBytes: Buffer;
    let listedSha256: string | undefined;
    let updater: Updater;
    try {
      // Loading the trusted root checks that it is root metadata signed by its own threshold.
      updater = new Updater({
        metadataDir: cacheDir,
        metadataBaseUrl: baseUrl,
        targetBaseUrl: `${baseUrl}/targets`,
        targetDir: work,
        fetcher,
        // A local directory: no retries, and never a default (network) fetcher.
        config: { fetchRetry: false },
      });
    } catch (e: unknown) {
      // A pin that is not valid root metadata must not stay behind as the cache's trusted root.
      undo();
      throw new CountersignError(
        'TRUST_ROOT_INVALID',
        `${seeded ? `pinned root ${options.pinnedRootPath}` : `TUF cache ${cacheDir}`}: not valid self-signed TUF root metadata: ${describeTufFailure(e)}`,
        { cause: e },
      );
    }
    try {
      await updater.refresh();
      const info = await updater.getTargetInfo(targetName);
      if (info === undefined)
        throw refused(repositoryDir, `the targets metadata does not list ${targetName}`);
      listedSha256 = info.hashes['sha256'];
      const downloaded = await updater.downloadTarget(info, join(work, 'target'));
      targetBytes = readFileSync(downloaded);
    } catch (e: unknown) {
      if (e instanceof CountersignError) throw e;
      throw refused(repositoryDir, describeTufFailure(e), e);
    }

    // tuf-js checked every listed hash; sha256 is what we report, so it must be listed and match.
    const sha256 = createHash('sha256').update(targetBytes).digest('hex');
    if (listedSha256 === undefined) {
      throw refused(repositoryDir, `targets metadata lists no sha256 for ${targetName}`);
    }
    if (listedSha256.toLowerCase() !== sha256) {
      throw refused(repositoryDir, `${targetName} does not match its sha256 in the targets metadata`);
    }
    let trustRoot: TrustRoot;
    try {
      trustRoot = parseTrustedRootText(targetBytes.toString('utf8'), targetName);
    } catch (e: unknown) {
      const detail = e instanceof Error ? e.message : String(e);
      throw refused(repositoryDir, `the signed target is not a valid trusted root: ${detail}`, e);
    }

    writeFileAtomic(outPath, targetBytes, 0o644);
    // Roots served during this import were all accepted (any rejection throws), so a later import
    // may pin any of them against this cache.
    for (const root of fetcher.servedRoots) pins.add(sha256Hex(root));
    writePins(cacheDir, pins);

    const count = (field: string): number => {
      const value = trustRoot.json[field];
      return Array.isArray(value) ? value.length : 0;
    };
    return {
      rootVersion: cachedVersion(cacheDir, 'root'),
      timestampVersion: cachedVersion(cacheDir, 'timestamp'),
      snapshotVersion: cachedVersion(cacheDir, 'snapshot'),
      targetsVersion: cachedVersion(cacheDir, 'targets'),
      sha256,
      length: targetBytes.length,
      trustRoot,
      counts: {
        certificateAuthorities: count('certificateAuthorities'),
        tlogs: count('tlogs'),
        ctlogs: count('ctlogs'),
        timestampAuthorities: count('timestampAuthorities'),
      },
      outPath,
      cacheDir,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Serves `file:` URLs that resolve inside the repository directory, and nothing else. A missing
 * file answers as HTTP 404 would, which is how tuf-js learns that the newest root was reached.
 */
export class DirectoryFetcher extends BaseFetcher {
  readonly root: string;
  /** Bytes of every `N.root.json` handed to tuf-js, in order. */
  readonly servedRoots: Buffer[] = [];

  constructor(root: string) {
    super();
    this.root = root;
  }

  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const path = this.pathFor(url);
    const name = relative(this.root, path);
    let real: string;
    try {
      real = await realpath(path);
    } catch {
      throw new DownloadHTTPError(`file not found in the repository directory: ${name}`, 404);
    }
    if (!isInside(this.root, real))
      throw new Error(`refused ${name}: it links outside the repository directory`);
    const info = await stat(real);
    if (!info.isFile())
      throw new DownloadHTTPError(`file not found in the repository directory: ${name}`, 404);
    if (info.size > MAX_FILE_BYTES) throw new Error(`refused ${name}: larger than ${MAX_FILE_BYTES} bytes`);
    const bytes = await readFile(real);
    if (/^\d+\.root\.json$/.test(name)) this.servedRoots.push(bytes);
    const chunk = new Uint8Array(new ArrayBuffer(bytes.length));
    chunk.set(bytes);
    return new ReadableStream<Uint8Array<ArrayBuffer>>({
      start(controller) {
        controller.enqueue(chunk);
        controller.close();
      },
    });
  }

  private pathFor(url: string): string {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`refused ${JSON.stringify(url)}: not a URL`);
    }
    if (parsed.protocol !== 'file:' || parsed.host !== '' || parsed.search !== '' || parsed.hash !== '') {
      throw new Error(`refused ${JSON.stringify(url)}: only files inside the repository directory are read`);
    }
    const path = fileURLToPath(parsed);
    if (!isInside(this.root, path)) {
      throw new Error(`refused ${JSON.stringify(url)}: outside the repository directory`);
    }
    return path;
  }
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/**
 * A cache holds the state reached from one pinned root. Using it with a different pin would
 * silently keep trusting the old chain, so: the first import seeds the cache with the pin; later
 * imports must pin a root this cache has already accepted (then the cached, possibly newer, root
 * is the start), or a root newer than the cached one (the operator moves the anchor forward).
 * Anything else is refused rather than guessed.
 */
function bindCacheToPinnedRoot(
  cacheDir: string,
  pinnedBytes: Buffer,
  pinnedVersion: number,
): { pins: Set<string>; seeded: boolean; undo: () => void } {
  const cachedRootPath = join(cacheDir, 'root.json');
  const pinsPath = join(cacheDir, PINS_FILE);
  const pinnedHash = sha256Hex(pinnedBytes);
  if (!existsSync(cachedRootPath)) {
    const pins = new Set([pinnedHash]);
    writePins(cacheDir, pins);
    writeFileAtomic(cachedRootPath, pinnedBytes, 0o600);
    const undo = (): void => {
      rmSync(cachedRootPath, { force: true });
      rmSync(pinsPath, { force: true });
    };
    return { pins, seeded: true, undo };
  }
  let pins: Set<string>;
  try {
    const doc = JSON.parse(readFileSync(pinsPath, 'utf8')) as { pinnedRootSha256?: unknown };
    if (!Array.isArray(doc.pinnedRootSha256) || !doc.pinnedRootSha256.every((h) => typeof h === 'string')) {
      throw new Error('malformed');
    }
    pins = new Set(doc.pinnedRootSha256);
  } catch {
    throw new CountersignError(
      'TRUST_ROOT_INVALID',
      `TUF cache ${cacheDir} has root.json but no readable ${PINS_FILE}: it was not made by this command; use another --cache`,
    );
  }
  const noUndo = (): void => undefined;
  if (pins.has(pinnedHash)) return { pins, seeded: false, undo: noUndo };
  const cachedBytes = readFileSync(cachedRootPath);
  const cachedVersion = rootVersionOf(cachedBytes, cachedRootPath);
  if (pinnedVersion > cachedVersion) {
    const previousPins = new Set(pins);
    pins.add(pinnedHash);
    writePins(cacheDir, pins);
    writeFileAtomic(cachedRootPath, pinnedBytes, 0o600);
    const undo = (): void => {
      writeFileAtomic(cachedRootPath, cachedBytes, 0o600);
      writePins(cacheDir, previousPins);
    };
    return { pins, seeded: true, undo };
  }
  throw new CountersignError(
    'TRUST_ROOT_INVALID',
    `pinned root (version ${pinnedVersion}) is not one the TUF cache ${cacheDir} has trusted (it is at root version ${cachedVersion}); ` +
      'pin a root from that chain or use another --cache',
  );
}

function writePins(cacheDir: string, pins: ReadonlySet<string>): void {
  const doc = { pinnedRootSha256: [...pins].sort() };
  writeFileAtomic(join(cacheDir, PINS_FILE), Buffer.from(`${JSON.stringify(doc, null, 2)}\n`), 0o600);
}

/** Turns a tuf-js failure into a sentence naming the cause; tuf-js wraps some errors in messages. */
function describeTufFailure(e: unknown): string {
  const name = e instanceof Error ? e.constructor.name : '';
  const message = e instanceof Error ? e.message : String(e);
  const text = `${name} ${message}`;
  if (/not found in the repository directory/.test(text))
    return `missing metadata or target file (${message})`;
  if (/refused /.test(message)) return message;
  if (/ExpiredMetadataError|is expired/.test(text)) return `expired metadata (${message})`;
  if (/less than current version/.test(text)) {
    return `rollback: the repository is older than the TUF state already trusted (${message})`;
  }
  if (
    /UnsignedMetadataError|was signed by \d+\/\d+ keys|failed to verify .* signature|no signature for key/.test(
      text,
    )
  ) {
    return `signature threshold not met (${message})`;
  }
  if (
    /LengthOrHashMismatchError|DownloadLengthMismatchError|Expected (hash|length)|Max length reached/.test(
      text,
    )
  ) {
    return `a file does not match the length or hashes its metadata lists (${message})`;
  }
  if (/BadVersionError|Expected version|does not match|doesn't match/.test(text)) {
    return `metadata version mismatch (${message})`;
  }
  if (e instanceof SyntaxError) return `metadata is not JSON (${message})`;
  return `TUF verification failed (${message})`;
}

function refused(dir: string, cause: string, e?: unknown): CountersignError {
  return new CountersignError(
    'TRUST_ROOT_INVALID',
    `TUF import from ${dir} refused: ${cause}`,
    e === undefined ? undefined : { cause: e },
  );
}

function readSmallFile(path: string, what: string): Buffer {
  try {
    const size = statSync(path).size;
    if (size > MAX_FILE_BYTES) throw new Error('too large');
    return readFileSync(path);
  } catch {
    throw new CountersignError('TRUST_ROOT_INVALID', `cannot read ${what} ${path}`);
  }
}

/** `signed.version` of a root metadata document; checks only the shape, tuf-js checks signatures. */
function rootVersionOf(bytes: Buffer, source: string): number {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new CountersignError('TRUST_ROOT_INVALID', `${source} is not JSON`);
  }
  const signed = typeof doc === 'object' && doc !== null ? (doc as { signed?: unknown }).signed : undefined;
  const fields =
    typeof signed === 'object' && signed !== null ? (signed as { _type?: unknown; version?: unknown }) : {};
  if (
    fields._type !== 'root' ||
    typeof fields.version !== 'number' ||
    !Number.isSafeInteger(fields.version) ||
    fields.version < 1
  ) {
    throw new CountersignError(
      'TRUST_ROOT_INVALID',
      `${source} is not TUF root metadata (signed._type "root", signed.version)`,
    );
  }
  return fields.version;
}

function cachedVersion(cacheDir: string, role: string): number {
  const doc = JSON.parse(readFileSync(join(cacheDir, `${role}.json`), 'utf8')) as {
    signed?: { version?: unknown };
  };
  const version = doc.signed?.version;
  return typeof version === 'number' ? version : 0;
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Write to a temporary file in the same directory, then rename: readers see old or new, never half. */
function writeFileAtomic(path: string, bytes: Buffer, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFileSync(temp, bytes, { mode, flag: 'wx' });
    renameSync(temp, path);
  } catch (e: unknown) {
    rmSync(temp, { force: true });
    throw new CountersignError('INTERNAL', `cannot write ${path}`, { cause: e });
  }
}
