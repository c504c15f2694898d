/**
 * Image references: parsing, normalising and formatting. Pure.
 *
 * Registry references follow the distribution reference grammar
 * (github.com/distribution/reference, `reference.go`) with Docker's normalisation
 * (`normalize.go`): a first path component is a registry host only when it contains '.' or ':',
 * is `localhost`, or has an upper-case letter; otherwise the image is on Docker Hub, written here as
 * `index.docker.io` with `library/` added to single-component names.
 *
 * OCI image layouts are written `oci:<dir>[:tag][@sha256:<hex>]`. A directory may itself contain
 * ':' and '@', so the suffixes are taken from the end only when they are well formed:
 * - a trailing `@<algorithm>:<...>` is a digest and must be a valid sha256 digest;
 * - then the text after the last ':' is a tag only when it matches the tag grammar and the
 *   directory before it is non-empty; otherwise the whole remainder is the directory.
 * So `oci:/data/a:b/c` is the directory `/data/a:b/c`, and `oci:/data/a:b` is directory `/data/a`
 * with tag `b`: a directory whose name ends in `:<tag-like text>` must be given with a tag.
 */
import { CountersignError } from '../errors.ts';
import { isDigest, isTag } from './digest.ts';
import type { Digest, ImageReference, LayoutReference, RegistryReference } from './types.ts';

/** The registry name Docker Hub images are normalised to. */
export const DOCKER_HUB_REGISTRY = 'index.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io']);
const LAYOUT_PREFIX = 'oci:';
/** distribution/reference: `NameTotalLengthMax`. */
const NAME_MAX_LENGTH = 255;

/** `path-component := alpha-numeric [separator alpha-numeric]*`, `separator := [_.]|__|[-]+`. */
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
/** `domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/`. */
const DOMAIN_COMPONENT_RE = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const IPV6_HOST_RE = /^\[[0-9a-fA-F:.]+\]$/;
const PORT_RE = /^[0-9]{1,5}$/;
const DIGEST_LIKE_RE = /@([A-Za-z0-9+._-]+:[^@]*)$/;

function invalid(text: string, what: string): CountersignError {
  return new CountersignError('INVALID_REFERENCE', `invalid image reference '${text}': ${what}`);
}

/** Parses a registry reference or an `oci:` layout reference; throws INVALID_REFERENCE. */
export function parseReference(text: string): ImageReference {
  if (text.length === 0) throw invalid(text, 'empty');
  if (/\s/.test(text) || hasControlCharacter(text)) {
    throw invalid(text, 'contains whitespace or control characters');
  }
  if (text.startsWith(LAYOUT_PREFIX)) return parseLayoutReference(text);
  return parseRegistryReference(text);
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function parseLayoutReference(text: string): LayoutReference {
  let rest = text.slice(LAYOUT_PREFIX.length);
  let digest: Digest | undefined;
  const digestMatch = DIGEST_LIKE_RE.exec(rest);
  if (digestMatch) {
    const candidate = digestMatch[1] ?? '';
    if (!isDigest(candidate))
      throw invalid(text, `digest '${candidate}' is not sha256: and 64 lowercase hex digits`);
    digest = candidate;
    rest = rest.slice(0, rest.length - candidate.length - 1);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > 0) {
    const candidate = rest.slice(colon + 1);
    if (isTag(candidate)) {
      tag = candidate;
      rest = rest.slice(0, colon);
    }
  }
  if (rest.length === 0) throw invalid(text, 'the OCI layout directory is empty');
  return {
    kind: 'layout',
    path: rest,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

function parseRegistryReference(text: string): RegistryReference {
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    const candidate = rest.slice(at + 1);
    if (!isDigest(candidate))
      throw invalid(text, `digest '${candidate}' is not sha256: and 64 lowercase hex digits`);
    digest = candidate;
    rest = rest.slice(0, at);
  }

  // A ':' after the last '/' starts the tag; one before it belongs to the registry port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    const candidate = rest.slice(colon + 1);
    if (!isTag(candidate))
      throw invalid(text, `tag '${candidate}' does not match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
    tag = candidate;
    rest = rest.slice(0, colon);
  }
  if (rest.length === 0) throw invalid(text, 'the repository name is empty');

  let registry: string;
  let repository: string;
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  const firstIsHost =
    slash !== -1 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first);
  if (firstIsHost) {
    registry = validateRegistry(text, first);
    repository = rest.slice(slash + 1);
  } else {
    registry = 'docker.io';
    repository = rest;
  }
  if (DOCKER_HUB_ALIASES.has(registry)) {
    registry = DOCKER_HUB_REGISTRY;
    if (!repository.includes('/')) repository = `library/${repository}`;
  }
  validateRepository(text, repository);
  if (registry.length + 1 + repository.length > NAME_MAX_LENGTH) {
    throw invalid(text, `the name is longer than ${NAME_MAX_LENGTH} characters`);
  }
  return {
    kind: 'registry',
    registry,
    repository,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** `domain := host [':' port-number]`; host names are case-insensitive and kept lower-case. */
function validateRegistry(text: string, domain: string): string {
  let host = domain;
  let port: string | undefined;
  const portColon = domain.lastIndexOf(':');
  if (portColon !== -1 && portColon > domain.lastIndexOf(']')) {
    host = domain.slice(0, portColon);
    port = domain.slice(portColon + 1);
  }
  if (port !== undefined && (!PORT_RE.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    throw invalid(text, `registry port '${port}' is not a number from 1 to 65535`);
  }
  const hostOk =
    IPV6_HOST_RE.test(host) || (host.length > 0 && host.split('.').every((c) => DOMAIN_COMPONENT_RE.test(c)));
  if (!hostOk) throw invalid(text, `registry host '${host}' is not a valid host name or address`);
  return domain.toLowerCase();
}

function validateRepository(text: string, repository: string): void {
  if (repository.length === 0) throw invalid(text, 'the repository name is empty');
  if (repository.toLowerCase() !== repository)
    throw invalid(text, `repository '${repository}' must be lower-case`);
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT_RE.test(component)) {
      throw invalid(
        text,
        `repository component '${component}' must be lower-case letters and digits, separated by '.', '_', '__' or dashes`,
      );
    }
  }
}

/** `registry/repository` (or `oci:<dir>`): the name policy image patterns match. */
export function normalisedName(ref: ImageReference): string {
  switch (ref.kind) {
    case 'registry':
      return `${ref.registry}/${ref.repository}`;
    case 'layout':
      return `${LAYOUT_PREFIX}${ref.path}`;
  }
}

/** The canonical text of a reference: normalised name, then `:tag`, then `@digest`. */
export function formatReference(ref: ImageReference): string {
  const tag = ref.tag === undefined ? '' : `:${ref.tag}`;
  const digest = ref.digest === undefined ? '' : `@${ref.digest}`;
  return `${normalisedName(ref)}${tag}${digest}`;
}

/** What a caller must run: the name pinned to the resolved digest, never a tag. */
export function pinnedReference(ref: ImageReference, digest: Digest): string {
  if (!isDigest(digest)) {
    throw new CountersignError('INVALID_REFERENCE', `'${String(digest)}' is not a sha256 digest`);
  }
  return `${normalisedName(ref)}@${digest}`;
}
