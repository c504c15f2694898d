/**
 * `countersign policy lint DIR [--config DIR]`: checks every policy file of a directory the way the
 * appliance loads them, prints every problem (`file:line: field: problem`) and exits 2 on any.
 * The only file-system code of policies lives here: it reads the files and answers the parser's
 * questions about keys/ and trust-root/.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CountersignError } from '../errors.ts';
import type { PolicyFile, PolicyProblem, PolicyResolver, TrustRootInfo } from '../policy/index.ts';
import { MAX_POLICY_BYTES, formatProblem, lintPolicySet } from '../policy/index.ts';
import type { CliIO } from './io.ts';

const USAGE = `usage: countersign policy lint DIR [--config DIR]

  Checks every *.yaml / *.yml policy in DIR, with keys from <config>/keys and trust roots from
  <config>/trust-root/<name>/trusted_root.json. --config defaults to DIR's parent directory.
  Exit codes: 0 all policies valid, 2 any problem.
`;

export function run(args: string[], io: CliIO): Promise<number> {
  // The command interface is asynchronous; linting is not, so errors become rejections here.
  try {
    return Promise.resolve(runSync(args, io));
  } catch (e: unknown) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

function runSync(args: string[], io: CliIO): number {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout(USAGE);
    return 0;
  }
  if (sub !== 'lint') {
    io.stderr(
      `countersign policy: ${sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`} [USAGE]\n${USAGE}`,
    );
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e: unknown) {
    io.stderr(`countersign policy lint: ${e instanceof Error ? e.message : String(e)} [USAGE]\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help === true) {
    io.stdout(USAGE);
    return 0;
  }
  const [dirArg, ...extra] = parsed.positionals;
  if (dirArg === undefined || extra.length > 0) {
    io.stderr(`countersign policy lint: expected exactly one policy directory [USAGE]\n${USAGE}`);
    return 2;
  }
  const dir = path.resolve(io.cwd, dirArg);
  const config = path.resolve(io.cwd, parsed.values.config ?? path.join(dirArg, '..'));

  const files = readPolicyFiles(dir, dirArg);
  const resolver = directoryResolver(config);
  const { policies, problems } = lintPolicySet(files, resolver.resolver);
  // Surface unreadable key files even where no overlap check needed their fingerprint.
  for (const p of policies)
    for (const s of p.signers) if (s.kind === 'key') resolver.resolver.keyFingerprint?.(s.key);
  const all: PolicyProblem[] = [...problems, ...resolver.notes()];
  if (files.length === 0) all.push({ file: dirArg, field: '', message: 'no policy files (*.yaml, *.yml)' });
  if (all.length > 0) {
    for (const p of all) io.stdout(`${formatProblem(p)}\n`);
    io.stdout(`${all.length} problem${all.length === 1 ? '' : 's'} in ${dirArg}\n`);
    return 2;
  }
  for (const p of policies) {
    const flags = [
      `${p.threshold} of ${p.signers.length} signers`,
      p.mode,
      ...(p.isDefault ? ['default'] : []),
    ];
    io.stdout(`ok  ${p.name}  ${p.source}  ${p.contentHash}  (${flags.join(', ')})\n`);
  }
  io.stdout(`OK: ${policies.length} polic${policies.length === 1 ? 'y' : 'ies'} in ${dirArg}\n`);
  return 0;
}

/** The policy files of a directory (not recursive, hidden files skipped), each read up to the limit. */
function readPolicyFiles(dir: string, shown: string): PolicyFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e: unknown) {
    throw new CountersignError('CONFIG_INVALID', `cannot read policy directory ${shown}`, { cause: e });
  }
  return names
    .filter((n) => !n.startsWith('.') && (n.endsWith('.yaml') || n.endsWith('.yml')))
    .filter((n) => statSync(path.join(dir, n)).isFile())
    .sort()
    .map((n) => ({ file: path.join(shown, n), bytes: readBounded(path.join(dir, n), MAX_POLICY_BYTES + 1) }));
}

/** At most `limit` bytes: enough for the parser to see that a file is too large. */
function readBounded(file: string, limit: number): Uint8Array {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(limit);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, total, limit - total, null);
      if (n === 0 || total + n >= limit) {
        total += n;
        break;
      }
      total += n;
    }
    return buf.subarray(0, total);
  } finally {
    closeSync(fd);
  }
}

/** Plain file names only: the parser already insists, this keeps the resolver safe on its own. */
function plainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\\');
}

/**
 * Answers about `<config>/keys/<name>` and `<config>/trust-root/<name>/trusted_root.json`.
 * Files present but unreadable are reported as notes (problems of their own).
 */
function directoryResolver(config: string): { resolver: PolicyResolver; notes: () => PolicyProblem[] } {
  const notes = new Map<string, PolicyProblem>();
  const note = (file: string, message: string): void => {
    notes.set(file, { file, field: '', message });
  };
  const isFile = (file: string): boolean => {
    try {
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  const fingerprints = new Map<string, string | undefined>();
  const roots = new Map<string, TrustRootInfo | undefined>();
  const resolver: PolicyResolver = {
    keyExists: (name) => plainName(name) && isFile(path.join(config, 'keys', name)),
    keyFingerprint: (name) => {
      if (fingerprints.has(name)) return fingerprints.get(name);
      let fp: string | undefined;
      const file = path.join(config, 'keys', name);
      if (plainName(name) && isFile(file)) {
        try {
          const der = createPublicKey(readFileSync(file)).export({ type: 'spki', format: 'der' });
          fp = createHash('sha256').update(der).digest('hex');
        } catch {
          note(path.join('keys', name), 'not a readable PEM public key');
        }
      }
      fingerprints.set(name, fp);
      return fp;
    },
    trustRoot: (name) => {
      if (roots.has(name)) return roots.get(name);
      let info: TrustRootInfo | undefined;
      const file = path.join(config, 'trust-root', name, 'trusted_root.json');
      if (plainName(name) && isFile(file)) {
        info = trustRootInfo(readFileSync(file, 'utf8'));
        if (info === undefined)
          note(path.join('trust-root', name, 'trusted_root.json'), 'not a valid trusted_root.json');
      }
      roots.set(name, info);
      return info;
    },
  };
  return { resolver, notes: () => [...notes.values()] };
}

/** What a trusted_root.json offers; only the presence of each kind of authority matters here. */
function trustRootInfo(text: string): TrustRootInfo | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const count = (field: string): number => {
    const v: unknown = (doc as Record<string, unknown>)[field];
    return Array.isArray(v) ? v.length : 0;
  };
  const tlogs = count('tlogs');
  return {
    hasTlogs: tlogs > 0,
    caOnly: tlogs === 0 && count('ctlogs') === 0 && count('timestampAuthorities') === 0,
  };
}
