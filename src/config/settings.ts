/**
 * countersign.yaml: the appliance's own settings, all optional. Pure strict parser: unknown fields
 * are errors, so a typo never silently weakens a setting.
 *
 *   site: St. Example Hospital, Radiology        # shown on audit reports
 *   server: { host: 127.0.0.1, port: 8080, tls: { cert: tls.crt, key: tls.key, clientCa: ca.pem } }
 *   dataDir: data                                 # SQLite audit database and appliance key
 *   layoutRoots: [/media/usb]                     # where oci: layouts may be read from
 *   registryAuthFile: registry-auth.json          # docker-style config.json
 *   registries: { registry.hospital.example: { caFile: hospital-ca.pem }, localhost:5000: { insecure: true } }
 *   limits: { maxSignatureBytes: 1048576, connectTimeoutMs: 5000, totalTimeoutMs: 30000 }
 *   cache: { ttlSeconds: 300, maxEntries: 10000 } # allow decisions; ttlSeconds 0 disables the cache
 */
import { CountersignError } from '../errors.ts';

export interface RegistrySettings {
  readonly caFile?: string;
  readonly insecure: boolean;
}

export interface Settings {
  readonly site: string;
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly tls?: { readonly cert: string; readonly key: string; readonly clientCa?: string };
  };
  readonly dataDir: string;
  readonly layoutRoots: readonly string[];
  readonly registryAuthFile?: string;
  readonly registries: Readonly<Record<string, RegistrySettings>>;
  readonly limits: {
    readonly maxSignatureBytes: number;
    readonly connectTimeoutMs: number;
    readonly totalTimeoutMs: number;
  };
  /** The decision cache (allows only, see decision/cache.ts); `ttlSeconds` 0 turns it off. */
  readonly cache: {
    readonly ttlSeconds: number;
    readonly maxEntries: number;
  };
}

export const DEFAULT_CACHE_TTL_SECONDS = 300;
export const DEFAULT_CACHE_MAX_ENTRIES = 10_000;

type Obj = Record<string, unknown>;

function fail(file: string, field: string, message: string): never {
  throw new CountersignError('CONFIG_INVALID', `${file}: ${field}: ${message}`);
}

function obj(v: unknown, file: string, field: string, allowed: readonly string[]): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail(file, field, 'must be a mapping');
  const o = v as Obj;
  for (const k of Object.keys(o))
    if (!allowed.includes(k)) fail(file, field === '' ? k : `${field}.${k}`, 'unknown field');
  return o;
}

function str(o: Obj, k: string, file: string, field: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') fail(file, field, 'must be a non-empty string');
  return v;
}

function int(o: Obj, k: string, file: string, field: string, min: number, max: number): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail(file, field, `must be an integer in [${min}, ${max}]`);
  return v;
}

export function parseSettings(doc: unknown, file: string): Settings {
  const top = obj(doc, file, '', [
    'site',
    'server',
    'dataDir',
    'layoutRoots',
    'registryAuthFile',
    'registries',
    'limits',
    'cache',
  ]);
  const server = obj(top['server'], file, 'server', ['host', 'port', 'tls']);
  const tlsRaw = server['tls'];
  let tls: Settings['server']['tls'];
  if (tlsRaw !== undefined && tlsRaw !== null) {
    const t = obj(tlsRaw, file, 'server.tls', ['cert', 'key', 'clientCa']);
    const cert = str(t, 'cert', file, 'server.tls.cert') ?? fail(file, 'server.tls.cert', 'required');
    const key = str(t, 'key', file, 'server.tls.key') ?? fail(file, 'server.tls.key', 'required');
    const clientCa = str(t, 'clientCa', file, 'server.tls.clientCa');
    tls = { cert, key, ...(clientCa === undefined ? {} : { clientCa }) };
  }
  const roots = top['layoutRoots'] ?? [];
  if (!Array.isArray(roots) || !roots.every((r): r is string => typeof r === 'string' && r !== '')) {
    fail(file, 'layoutRoots', 'must be a list of directories');
  }
  const registries: Record<string, RegistrySettings> = {};
  for (const [host, value] of Object.entries(
    obj(top['registries'], file, 'registries', Object.keys((top['registries'] ?? {}) as Obj)),
  )) {
    const r = obj(value, file, `registries.${host}`, ['caFile', 'insecure']);
    const caFile = str(r, 'caFile', file, `registries.${host}.caFile`);
    const insecure = r['insecure'] ?? false;
    if (typeof insecure !== 'boolean') fail(file, `registries.${host}.insecure`, 'must be true or false');
    registries[host] = { insecure, ...(caFile === undefined ? {} : { caFile }) };
  }
  const limits = obj(top['limits'], file, 'limits', [
    'maxSignatureBytes',
    'connectTimeoutMs',
    'totalTimeoutMs',
  ]);
  const cache = obj(top['cache'], file, 'cache', ['ttlSeconds', 'maxEntries']);
  const registryAuthFile = str(top, 'registryAuthFile', file, 'registryAuthFile');
  const tlsPart = tls === undefined ? {} : { tls };
  return {
    site: str(top, 'site', file, 'site') ?? 'countersign appliance',
    server: {
      host: str(server, 'host', file, 'server.host') ?? '127.0.0.1',
      port: int(server, 'port', file, 'server.port', 0, 65535) ?? 8080,
      ...tlsPart,
    },
    dataDir: str(top, 'dataDir', file, 'dataDir') ?? 'data',
    layoutRoots: roots,
    ...(registryAuthFile === undefined ? {} : { registryAuthFile }),
    registries,
    limits: {
      maxSignatureBytes:
        int(limits, 'maxSignatureBytes', file, 'limits.maxSignatureBytes', 1024, 64 * 1024 * 1024) ??
        1024 * 1024,
      connectTimeoutMs: int(limits, 'connectTimeoutMs', file, 'limits.connectTimeoutMs', 100, 120000) ?? 5000,
      totalTimeoutMs: int(limits, 'totalTimeoutMs', file, 'limits.totalTimeoutMs', 100, 600000) ?? 30000,
    },
    cache: {
      // A day at most: a cached allow outlives a signature withdrawn from the registry until it expires.
      ttlSeconds: int(cache, 'ttlSeconds', file, 'cache.ttlSeconds', 0, 86_400) ?? DEFAULT_CACHE_TTL_SECONDS,
      maxEntries:
        int(cache, 'maxEntries', file, 'cache.maxEntries', 1, 1_000_000) ?? DEFAULT_CACHE_MAX_ENTRIES,
    },
  };
}
