/**
 * Manifest parsing: one validating parser for image manifests and indexes. Pure.
 *
 * Accepts OCI image-spec v1.1 (`manifest.md`, `image-index.md`, `descriptor.md`) and Docker image
 * manifest v2 schema 2 (manifest and manifest list). Schema 1 is refused on its own code: its
 * digest covers a JWS-signed body and nothing in it is worth trusting.
 */
import { CountersignError } from '../errors.ts';
import { isDigest } from './digest.ts';
import type { Descriptor, ImageIndex, ImageManifest, Manifest, Platform } from './types.ts';
import { MEDIA_TYPES, SCHEMA1_MEDIA_TYPES } from './types.ts';

export { sha256Digest } from './digest.ts';

const MANIFEST_TYPES = new Set<string>([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);
const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);

type JsonObject = Record<string, unknown>;

function invalid(message: string): CountersignError {
  return new CountersignError('MANIFEST_INVALID', `invalid manifest: ${message}`);
}

function schema1(): CountersignError {
  return new CountersignError(
    'MANIFEST_SCHEMA1',
    'schema 1 manifests are not supported: their digest cannot be trusted',
  );
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `type/subtype` without parameters, lower-cased (RFC 9110 section 8.3.1). */
export function bareMediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

/**
 * Parses manifest bytes. The body's own `mediaType` decides the kind; the transport's content
 * type is used only when the body has none, and then structure (`manifests` vs `layers`) decides
 * for OCI documents, whose `mediaType` field was optional before image-spec 1.1.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): Manifest {
  const transportType = contentType === undefined ? undefined : bareMediaType(contentType);
  if (transportType !== undefined && SCHEMA1_MEDIA_TYPES.includes(transportType)) throw schema1();

  let doc: unknown;
  try {
    // fatal: invalid UTF-8 is an error, not silently replaced.
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalid('not valid UTF-8 JSON');
  }
  if (!isObject(doc)) throw invalid('not a JSON object');
  if (doc['schemaVersion'] === 1) throw schema1();
  if (doc['schemaVersion'] !== 2)
    throw invalid(`schemaVersion must be 2, got ${JSON.stringify(doc['schemaVersion'])}`);

  const declared = optionalString(doc, 'mediaType', 'mediaType');
  if (declared !== undefined && SCHEMA1_MEDIA_TYPES.includes(declared)) throw schema1();

  let mediaType = declared ?? transportType;
  if (
    mediaType === undefined ||
    mediaType === 'application/json' ||
    mediaType === 'application/octet-stream'
  ) {
    // Untyped document: only an OCI one may omit its media type.
    mediaType = 'manifests' in doc ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest;
  }
  if (MANIFEST_TYPES.has(mediaType)) return parseImageManifest(doc, mediaType);
  if (INDEX_TYPES.has(mediaType)) return parseIndex(doc, mediaType);
  throw new CountersignError('MANIFEST_UNSUPPORTED', `unsupported manifest media type '${mediaType}'`);
}

function parseImageManifest(doc: JsonObject, mediaType: string): ImageManifest {
  if ('manifests' in doc) throw invalid(`a ${mediaType} has no 'manifests'`);
  const config = descriptor(doc['config'], 'config');
  const layersValue = doc['layers'];
  if (!Array.isArray(layersValue)) throw invalid("'layers' must be an array");
  const layers = layersValue.map((l: unknown, i) => descriptor(l, `layers[${i}]`));
  return {
    kind: 'manifest',
    mediaType,
    config,
    layers,
    ...common(doc),
  };
}

function parseIndex(doc: JsonObject, mediaType: string): ImageIndex {
  if ('layers' in doc || 'config' in doc) throw invalid(`a ${mediaType} has no 'layers' or 'config'`);
  const value = doc['manifests'];
  if (!Array.isArray(value)) throw invalid("'manifests' must be an array");
  const manifests = value.map((m: unknown, i) => descriptor(m, `manifests[${i}]`));
  return { kind: 'index', mediaType, manifests, ...common(doc) };
}

function common(doc: JsonObject): Pick<ImageManifest, 'subject' | 'artifactType' | 'annotations'> {
  const subject = doc['subject'] === undefined ? undefined : descriptor(doc['subject'], 'subject');
  const artifactType = optionalString(doc, 'artifactType', 'artifactType');
  const annotations = optionalAnnotations(doc, 'annotations');
  return {
    ...(subject === undefined ? {} : { subject }),
    ...(artifactType === undefined ? {} : { artifactType }),
    ...(annotations === undefined ? {} : { annotations }),
  };
}

/** image-spec `descriptor.md`: mediaType, digest and size are required. */
function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be an object`);
  const mediaType = optionalString(value, 'mediaType', `${where}.mediaType`);
  if (mediaType === undefined || mediaType.length === 0) throw invalid(`${where}.mediaType is required`);
  const digest = value['digest'];
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw invalid(`${where}.digest must be sha256: and 64 lowercase hex digits`);
  }
  const size = value['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  const annotations = optionalAnnotations(value, `${where}.annotations`);
  const artifactType = optionalString(value, 'artifactType', `${where}.artifactType`);
  const platform =
    value['platform'] === undefined ? undefined : parsePlatform(value['platform'], `${where}.platform`);
  const urls = optionalStringArray(value, 'urls', `${where}.urls`);
  return {
    mediaType,
    digest,
    size,
    ...(annotations === undefined ? {} : { annotations }),
    ...(artifactType === undefined ? {} : { artifactType }),
    ...(platform === undefined ? {} : { platform }),
    ...(urls === undefined ? {} : { urls }),
  };
}

function parsePlatform(value: unknown, where: string): Platform {
  if (!isObject(value)) throw invalid(`${where} must be an object`);
  const architecture = optionalString(value, 'architecture', `${where}.architecture`);
  const os = optionalString(value, 'os', `${where}.os`);
  if (architecture === undefined || os === undefined) throw invalid(`${where} needs architecture and os`);
  const variant = optionalString(value, 'variant', `${where}.variant`);
  const osVersion = optionalString(value, 'os.version', `${where}.os.version`);
  const osFeatures = optionalStringArray(value, 'os.features', `${where}.os.features`);
  return {
    architecture,
    os,
    ...(variant === undefined ? {} : { variant }),
    ...(osVersion === undefined ? {} : { osVersion }),
    ...(osFeatures === undefined ? {} : { osFeatures }),
  };
}

function optionalString(obj: JsonObject, key: string, where: string): string | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`${where} must be a string`);
  return value;
}

function optionalStringArray(obj: JsonObject, key: string, where: string): string[] | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw invalid(`${where} must be an array of strings`);
  }
  return value;
}

function optionalAnnotations(obj: JsonObject, where: string): Record<string, string> | undefined {
  const value = obj['annotations'];
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw invalid(`${where} must be an object of strings`);
  const entries = Object.entries(value);
  for (const [k, v] of entries) {
    if (typeof v !== 'string') throw invalid(`${where}['${k}'] must be a string`);
  }
  // fromEntries defines own properties, so a `__proto__` key stays a plain annotation.
  return Object.fromEntries(entries) as Record<string, string>;
}
