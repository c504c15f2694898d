/**
 * Registry credentials from a docker-style `config.json` (`auths` only). Parsing is pure;
 * `loadDockerConfig` is the one edge that reads the file.
 *
 * Credential helpers (`credsStore`, `credHelpers`) and OAuth refresh tokens (`identitytoken`) are
 * not supported: an appliance does not run helper binaries, and offline registries use passwords.
 */
import { readFile } from 'node:fs/promises';
import { CountersignError } from '../errors.ts';
import { DOCKER_HUB_REGISTRY } from './reference.ts';

export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

/** Credentials keyed by normalised registry host (`host[:port]`, lower-case). */
export interface DockerConfig {
  readonly auths: ReadonlyMap<string, RegistryCredentials>;
}

/** Every name Docker Hub goes by in config files (`https://index.docker.io/v1/` is the usual key). */
const DOCKER_HUB_NAMES = new Set(['index.docker.io', 'docker.io', 'registry-1.docker.io']);

function configError(message: string): CountersignError {
  return new CountersignError('CONFIG_INVALID', `docker config: ${message}`);
}

/**
 * The registry host an `auths` key names: scheme and path dropped, lower-case, Docker Hub's
 * aliases folded into `index.docker.io`. Keys look like `host`, `host:5000`, `https://host`,
 * `https://index.docker.io/v1/`.
 */
export function normaliseAuthKey(key: string): string {
  let host = key.trim().toLowerCase();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//.exec(host);
  if (scheme) host = host.slice(scheme[0].length);
  const slash = host.indexOf('/');
  if (slash !== -1) host = host.slice(0, slash);
  return DOCKER_HUB_NAMES.has(host) ? DOCKER_HUB_REGISTRY : host;
}

function decodeAuth(key: string, auth: string): RegistryCredentials {
  // Buffer.from silently skips junk, so check the alphabet first.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(auth)) throw configError(`auths['${key}'].auth is not base64`);
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) throw configError(`auths['${key}'].auth is not base64 of 'user:password'`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Parses config.json text. Entries with no usable credentials (helper users) are skipped. */
export function parseDockerConfig(text: string): DockerConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw configError('not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw configError('not a JSON object');
  const authsValue = (doc as Record<string, unknown>)['auths'];
  const auths = new Map<string, RegistryCredentials>();
  if (authsValue === undefined) return { auths };
  if (typeof authsValue !== 'object' || authsValue === null || Array.isArray(authsValue)) {
    throw configError("'auths' must be an object");
  }
  // A bare `host` key wins over `https://host/...` forms of the same registry, whatever the order.
  const exact = new Set<string>();
  for (const [key, entry] of Object.entries(authsValue as Record<string, unknown>)) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw configError(`auths['${key}'] must be an object`);
    }
    const e = entry as Record<string, unknown>;
    let credentials: RegistryCredentials | undefined;
    if (typeof e['auth'] === 'string' && e['auth'] !== '') {
      credentials = decodeAuth(key, e['auth']);
    } else if (
      typeof e['username'] === 'string' &&
      typeof e['password'] === 'string' &&
      e['username'] !== ''
    ) {
      credentials = { username: e['username'], password: e['password'] };
    }
    if (credentials === undefined) continue;
    const host = normaliseAuthKey(key);
    const isExact = key.trim().toLowerCase() === host;
    if (exact.has(host) && !isExact) continue;
    if (isExact) exact.add(host);
    auths.set(host, credentials);
  }
  return { auths };
}

/** Credentials for a registry as written in references (`index.docker.io`, `host:5000`). */
export function credentialsFor(
  config: DockerConfig | undefined,
  registry: string,
): RegistryCredentials | undefined {
  return config?.auths.get(normaliseAuthKey(registry));
}

/** Reads and parses a config.json file. */
export async function loadDockerConfig(path: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CountersignError('CONFIG_INVALID', `docker config: cannot read ${path}`, { cause: e });
  }
  return parseDockerConfig(text);
}
