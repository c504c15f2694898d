/**
 * Wrappers over the real signers (Debian trixie cosign 2.5 and skopeo 1.18) so that tests check
 * countersign against signatures made by the tools hospitals' vendors actually use.
 *
 * Every call runs with a fresh HOME and TUF_ROOT so the tools never read the user's config or
 * reach the public Sigstore: signing is with keys only, `--tlog-upload=false`.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { TestRegistry } from './registry.ts';
import { requireTool } from './tools.ts';

const TOOL_TIMEOUT_MS = 90_000;

export interface KeyPair {
  readonly privateKeyPath: string;
  readonly publicKeyPath: string;
}

export interface SkopeoKey extends KeyPair {
  /** The passphrase, in a file as `--sign-passphrase-file` wants it. */
  readonly passphraseFile: string;
}

/** `127.0.0.1:PORT/repo@sha256:...`: the reference form both tools take. */
export function imageRef(reg: TestRegistry, repo: string, digestOrTag: string): string {
  return digestOrTag.startsWith('sha256:')
    ? `${reg.host}/${repo}@${digestOrTag}`
    : `${reg.host}/${repo}:${digestOrTag}`;
}

/** Runs fn with an isolated HOME (and TUF_ROOT, DOCKER_CONFIG, XDG dirs) removed afterwards. */
async function withIsolatedHome<T>(
  reg: TestRegistry | undefined,
  fn: (env: Record<string, string>, home: string) => Promise<T>,
): Promise<T> {
  const home = await mkdtemp(path.join(tmpdir(), 'countersign-tool-home-'));
  try {
    const dockerConfigDir =
      reg?.dockerConfigFile === undefined ? path.join(home, '.docker') : path.dirname(reg.dockerConfigFile);
    await mkdir(path.join(home, '.docker'), { recursive: true });
    await mkdir(path.join(home, 'run'), { recursive: true, mode: 0o700 });
    const env: Record<string, string> = {
      HOME: home,
      TUF_ROOT: path.join(home, '.sigstore', 'root'),
      DOCKER_CONFIG: dockerConfigDir,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_RUNTIME_DIR: path.join(home, 'run'),
      // Go's crypto/x509 reads SSL_CERT_FILE: the test CA becomes the only trusted root.
      ...(reg?.caFile === undefined ? {} : { SSL_CERT_FILE: reg.caFile }),
    };
    return await fn(env, home);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

async function run(tool: string, args: readonly string[], env: Record<string, string>, cwd?: string) {
  const result = await execa(tool, args, {
    env: { ...env, REGISTRY_AUTH_FILE: '', COSIGN_EXPERIMENTAL: '' },
    ...(cwd === undefined ? {} : { cwd }),
    reject: false,
    timeout: TOOL_TIMEOUT_MS,
    all: true,
    stdin: 'ignore',
  });
  if (result.exitCode !== 0) {
    const name = path.basename(tool);
    throw new Error(`${name} ${args.join(' ')} failed (exit ${String(result.exitCode)}):\n${result.all}`);
  }
  return result;
}

/** cosign flags for reaching the test registry: plain HTTP needs both allow flags; TLS needs none. */
function cosignRegistryFlags(reg: TestRegistry): string[] {
  return reg.caFile === undefined ? ['--allow-http-registry', '--allow-insecure-registry'] : [];
}

/** `cosign generate-key-pair` in dir: an encrypted `cosign.key` and `cosign.pub`. */
export async function cosignGenerateKeyPair(
  dir: string,
  password: string,
  prefix = 'cosign',
): Promise<KeyPair> {
  const cosign = requireTool('cosign');
  await mkdir(dir, { recursive: true });
  await withIsolatedHome(undefined, (env) =>
    run(
      cosign,
      ['generate-key-pair', '--output-key-prefix', prefix],
      { ...env, COSIGN_PASSWORD: password },
      dir,
    ),
  );
  return { privateKeyPath: path.join(dir, `${prefix}.key`), publicKeyPath: path.join(dir, `${prefix}.pub`) };
}

/**
 * `cosign sign --key` of `imageRefWithDigest` (legacy format: the `sha256-<hex>.sig` tag), no tlog.
 * extraArgs go before the image, e.g. `['-a', 'k=v']` for an annotation in `optional`.
 */
export async function cosignSign(
  reg: TestRegistry,
  imageRefWithDigest: string,
  keyPath: string,
  password: string,
  extraArgs: readonly string[] = [],
): Promise<void> {
  const cosign = requireTool('cosign');
  await withIsolatedHome(reg, (env) =>
    run(
      cosign,
      [
        'sign',
        '--key',
        keyPath,
        '--tlog-upload=false',
        ...cosignRegistryFlags(reg),
        '--yes',
        ...extraArgs,
        imageRefWithDigest,
      ],
      { ...env, COSIGN_PASSWORD: password },
    ),
  );
}

/**
 * `cosign attest --new-bundle-format` with predicate type `https://sigstore.dev/cosign/sign/v1`
 * and an empty predicate: cosign 2.5's way to write a Sigstore bundle v0.3 referrer (cosign 3's
 * `sign` format) offline. On distribution 2.8 it lands in the referrers fallback tag.
 */
export async function cosignAttestBundle(
  reg: TestRegistry,
  imageRefWithDigest: string,
  keyPath: string,
  password: string,
  extraArgs: readonly string[] = [],
): Promise<void> {
  const cosign = requireTool('cosign');
  await withIsolatedHome(reg, async (env, home) => {
    const predicate = path.join(home, 'predicate.json');
    await writeFile(predicate, '{}');
    await run(
      cosign,
      [
        'attest',
        '--key',
        keyPath,
        '--new-bundle-format',
        '--tlog-upload=false',
        '--type',
        'https://sigstore.dev/cosign/sign/v1',
        '--predicate',
        predicate,
        ...cosignRegistryFlags(reg),
        '--yes',
        ...extraArgs,
        imageRefWithDigest,
      ],
      { ...env, COSIGN_PASSWORD: password },
    );
  });
}

/** `skopeo generate-sigstore-key`: `<dir>/<prefix>.private` (encrypted) and `.pub`. */
export async function skopeoGenerateKey(
  dir: string,
  passphrase: string,
  prefix = 'skopeo',
): Promise<SkopeoKey> {
  const skopeo = requireTool('skopeo');
  await mkdir(dir, { recursive: true });
  const passphraseFile = path.join(dir, `${prefix}.passphrase`);
  await writeFile(passphraseFile, passphrase, { mode: 0o600 });
  const outputPrefix = path.join(dir, prefix);
  await withIsolatedHome(undefined, (env) =>
    run(
      skopeo,
      ['generate-sigstore-key', '--output-prefix', outputPrefix, '--passphrase-file', passphraseFile],
      env,
    ),
  );
  return { privateKeyPath: `${outputPrefix}.private`, publicKeyPath: `${outputPrefix}.pub`, passphraseFile };
}

/** skopeo TLS and auth flags for one side (`src` or `dest`) when that side is the test registry. */
function skopeoSideFlags(reg: TestRegistry, side: 'src' | 'dest'): string[] {
  const flags =
    reg.caFile === undefined
      ? [`--${side}-tls-verify=false`]
      : [`--${side}-tls-verify=true`, `--${side}-cert-dir`, path.dirname(reg.caFile)];
  if (reg.dockerConfigFile !== undefined) flags.push(`--${side}-authfile`, reg.dockerConfigFile);
  return flags;
}

/**
 * `skopeo copy` from `src` (a full transport reference: `oci:<dir>:<tag>`, or `docker://...` on
 * this registry) to `docker://<destRef>`; with a key, signs on the way using sigstore
 * attachments (a registries.d entry with `use-sigstore-attachments: true` for the host).
 */
export async function skopeoCopy(
  reg: TestRegistry,
  src: string,
  destRef: string,
  sign?: { privateKeyPath: string; passphraseFile: string },
): Promise<void> {
  const skopeo = requireTool('skopeo');
  await withIsolatedHome(reg, async (env, home) => {
    const registriesD = path.join(home, 'registries.d');
    await mkdir(registriesD);
    await writeFile(
      path.join(registriesD, 'test-registry.yaml'),
      `docker:\n  ${JSON.stringify(reg.host)}:\n    use-sigstore-attachments: true\n`,
    );
    const srcFlags = src.startsWith(`docker://${reg.host}/`) ? skopeoSideFlags(reg, 'src') : [];
    const signFlags =
      sign === undefined
        ? []
        : [
            '--sign-by-sigstore-private-key',
            sign.privateKeyPath,
            '--sign-passphrase-file',
            sign.passphraseFile,
          ];
    await run(
      skopeo,
      [
        '--insecure-policy',
        '--registries.d',
        registriesD,
        'copy',
        '--quiet',
        ...srcFlags,
        ...skopeoSideFlags(reg, 'dest'),
        ...signFlags,
        src,
        `docker://${destRef}`,
      ],
      env,
    );
  });
}

/** `skopeo copy` with sigstore signing: the brief's name for skopeoCopy with a key. */
export async function skopeoCopySigned(
  reg: TestRegistry,
  srcLayoutOrRef: string,
  destRef: string,
  privateKeyPath: string,
  passphraseFile: string,
): Promise<void> {
  await skopeoCopy(reg, srcLayoutOrRef, destRef, { privateKeyPath, passphraseFile });
}
