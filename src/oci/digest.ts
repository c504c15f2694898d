/** Digests and tags: the two ways a manifest is named. Pure. */
import { createHash } from 'node:crypto';
import type { Digest } from './types.ts';

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
/** distribution/reference: `tag := /[\w][\w.-]{0,127}/`. */
const TAG_RE = /^\w[\w.-]{0,127}$/;

/** True for `sha256:` followed by exactly 64 lowercase hex digits: the only digest form accepted. */
export function isDigest(text: string): text is Digest {
  return DIGEST_RE.test(text);
}

/** True when text is a tag by the distribution reference grammar. */
export function isTag(text: string): boolean {
  return TAG_RE.test(text);
}

/** The sha256 digest of exactly these bytes. */
export function sha256Digest(bytes: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The 64 hex digits of a digest (its file name under `blobs/sha256/`). */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}
