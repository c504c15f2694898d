/**
 * countersign-cosign: a `cosign` drop-in for hosts whose software shells out to `cosign verify`
 * (Mercure's processor does, with a 60 s timeout). It asks the local countersign appliance instead
 * of the internet, so verification works air-gapped, under N-of-M policies, with an audit entry per
 * decision. Exit status: 0 allowed, 1 denied or no decision, 2 refused invocation or configuration.
 * Nothing here allows by default: no trust flags and no policy, no token, no answer, an odd answer
 * all deny. The trust flags travel as `require` (require.ts): the appliance checks them against
 * its own keys and trust roots, in addition to the policies of the image, never instead of them.
 *
 * Environment:
 *   COUNTERSIGN_URL          appliance base URL (default http://127.0.0.1:8080)
 *   COUNTERSIGN_TOKEN        verifier token, or
 *   COUNTERSIGN_TOKEN_FILE   file holding it (preferred: not visible in the process table)
 *   COUNTERSIGN_POLICY       a named policy added to every call (else --policy, else the policy map)
 *   COUNTERSIGN_POLICY_MAP   JSON file mapping cosign trust flags to named policies (policy-map.ts)
 *   COUNTERSIGN_TRUST_ROOT   the appliance trust root certificate identities are checked under
 *   COUNTERSIGN_TIMEOUT      whole-call limit, seconds or a duration like 55s (default 55 s)
 *   COUNTERSIGN_CALLER       caller recorded in the audit entry (default countersign-cosign)
 */
import { CountersignError, isCountersignError } from '../errors.ts';
import { parseCosignArgs, parseDuration } from './args.ts';
import type { VerifyCommand } from './args.ts';
import { postVerify } from './client.ts';
import type { VerifyRequestBody } from './client.ts';
import { denialMessage, payloadLine, verificationHeader } from './output.ts';
import { parsePolicyMap, selectPolicy } from './policy-map.ts';
import type { PolicyMapRule } from './policy-map.ts';
import { requirementsFromFlags } from './require.ts';

export interface ShimIO {
  stdout(text: string): void;
  stderr(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reads a small text file; throws when it cannot. */
  readFile(path: string): string;
  readonly version: string;
  /** `linux/x64` */
  readonly platform: string;
  readonly runtime: string;
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';
/** Under Mercure's 60 s subprocess timeout, so Mercure sees our denial, not its own kill. */
export const DEFAULT_TIMEOUT_MS = 55_000;
const TOKEN = /^[\x21-\x7e]{1,4096}$/;

const USAGE = `countersign-cosign: cosign verify, answered by the countersign appliance

usage:
  cosign verify [--key KEY | --certificate-identity[-regexp] ID --certificate-oidc-issuer[-regexp] ISS]
                [--policy NAME] [--output json] [--timeout 55s] IMAGE...
  cosign version [--json]

The appliance checks the image against its own policies for it and, in addition, against the trust
flags (the key must be one of the appliance's keys; identities are checked under its trust roots,
COUNTERSIGN_TRUST_ROOT naming one) and a named policy: --policy, else COUNTERSIGN_POLICY, else a rule
in the COUNTERSIGN_POLICY_MAP file. A call with neither trust flags nor a policy is refused. Other
cosign subcommands are refused; cosign flags that would add checks are refused, never ignored.
`;

function usageError(message: string): CountersignError {
  return new CountersignError('USAGE', message);
}

function configError(message: string): CountersignError {
  return new CountersignError('CONFIG_INVALID', message);
}

function readToken(io: ShimIO): string {
  const inline = io.env['COUNTERSIGN_TOKEN'];
  const file = io.env['COUNTERSIGN_TOKEN_FILE'];
  if (inline !== undefined && inline !== '' && file !== undefined && file !== '') {
    throw configError('set COUNTERSIGN_TOKEN or COUNTERSIGN_TOKEN_FILE, not both');
  }
  let token: string;
  if (file !== undefined && file !== '') {
    try {
      token = io.readFile(file).trim();
    } catch {
      throw configError(`cannot read COUNTERSIGN_TOKEN_FILE ${file}`);
    }
  } else if (inline !== undefined && inline !== '') {
    token = inline.trim();
  } else {
    throw configError('no verifier token: set COUNTERSIGN_TOKEN_FILE (or COUNTERSIGN_TOKEN)');
  }
  // Never echo the token itself.
  if (!TOKEN.test(token)) throw configError('the verifier token is empty or holds characters a token cannot');
  return token;
}

function readBaseUrl(io: ShimIO): URL {
  const text = io.env['COUNTERSIGN_URL'] ?? '';
  let url: URL;
  try {
    url = new URL(text === '' ? DEFAULT_URL : text);
  } catch {
    throw configError(`COUNTERSIGN_URL ${text} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw configError(`COUNTERSIGN_URL must be http: or https:, got ${url.protocol}`);
  if (url.username !== '' || url.password !== '')
    throw configError('COUNTERSIGN_URL must not hold credentials: use COUNTERSIGN_TOKEN_FILE');
  return url;
}

function readPolicyMap(io: ShimIO): readonly PolicyMapRule[] {
  const file = io.env['COUNTERSIGN_POLICY_MAP'];
  if (file === undefined || file === '') return [];
  let text: string;
  try {
    text = io.readFile(file);
  } catch {
    throw configError(`cannot read COUNTERSIGN_POLICY_MAP ${file}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw configError(`${file}: not JSON`);
  }
  return parsePolicyMap(doc, file);
}

function timeoutOf(io: ShimIO, command: VerifyCommand): number {
  const text = io.env['COUNTERSIGN_TIMEOUT'];
  const configured =
    text === undefined || text === '' ? DEFAULT_TIMEOUT_MS : parseDuration(text, 'COUNTERSIGN_TIMEOUT');
  // A shorter --timeout from the caller is honoured; a longer one cannot outlast Mercure's own limit.
  return Math.min(configured, command.timeoutMs ?? configured);
}

async function verify(command: VerifyCommand, io: ShimIO): Promise<number> {
  const baseUrl = readBaseUrl(io);
  const rules = readPolicyMap(io);
  const selection = selectPolicy({
    flag: command.policy,
    environment: io.env['COUNTERSIGN_POLICY'],
    rules,
    trust: command.trust,
  });
  const require = requirementsFromFlags(
    command.trust,
    (file) => io.readFile(file),
    io.env['COUNTERSIGN_TRUST_ROOT'],
  );
  if (selection === undefined && require === undefined) {
    throw usageError(
      'no --key, --certificate-identity or countersign policy given: nothing to verify against ' +
        '(cosign needs a key or an identity too)',
    );
  }
  const token = readToken(io);
  const timeoutMs = timeoutOf(io, command);
  const deadline = Date.now() + timeoutMs;
  if (command.ignored.length > 0) {
    io.stderr(
      `countersign-cosign: ignoring ${command.ignored.join(', ')}: the appliance's policies decide what is checked\n`,
    );
  }
  const caller = io.env['COUNTERSIGN_CALLER'];
  for (const image of command.images) {
    const body: VerifyRequestBody = {
      image,
      ...(selection === undefined ? {} : { policy: selection.policy }),
      ...(require === undefined ? {} : { require }),
      context: {
        caller: caller === undefined || caller === '' ? 'countersign-cosign' : caller,
        ...(selection?.module === undefined ? {} : { module: selection.module }),
      },
    };
    const outcome = await postVerify({
      baseUrl,
      token,
      body,
      timeoutMs: Math.max(1, deadline - Date.now()),
    });
    if (outcome.kind !== 'decision' || !outcome.decision.allowed) {
      io.stderr(denialMessage(image, outcome));
      return 1;
    }
    io.stderr(verificationHeader(image, outcome.decision));
    io.stdout(payloadLine(outcome.decision));
  }
  return 0;
}

function version(io: ShimIO, json: boolean): number {
  const info = {
    gitVersion: `countersign-cosign-shim ${io.version}`,
    gitCommit: 'unknown',
    gitTreeState: 'unknown',
    buildDate: 'unknown',
    goVersion: `none (${io.runtime})`,
    compiler: 'none',
    platform: io.platform,
  };
  if (json) {
    io.stdout(`${JSON.stringify(info, null, 2)}\n`);
    return 0;
  }
  io.stdout(
    'countersign-cosign: cosign verify answered by the countersign appliance\n\n' +
      `GitVersion:    ${info.gitVersion}\n` +
      `GitCommit:     ${info.gitCommit}\n` +
      `GitTreeState:  ${info.gitTreeState}\n` +
      `BuildDate:     ${info.buildDate}\n` +
      `GoVersion:     ${info.goVersion}\n` +
      `Compiler:      ${info.compiler}\n` +
      `Platform:      ${info.platform}\n`,
  );
  return 0;
}

/** Runs one cosign command line (argv without the program name); returns the exit status. */
export async function runCosignShim(argv: readonly string[], io: ShimIO): Promise<number> {
  try {
    const command = parseCosignArgs(argv);
    switch (command.kind) {
      case 'help':
        io.stdout(USAGE);
        return 0;
      case 'version':
        return version(io, command.json);
      case 'verify':
        return await verify(command, io);
    }
  } catch (e: unknown) {
    if (isCountersignError(e)) {
      io.stderr(`Error: countersign-cosign: ${e.message} [${e.code}]\n`);
      if (e.code === 'USAGE') io.stderr(`\n${USAGE}`);
      return 2;
    }
    io.stderr(`Error: countersign-cosign: ${e instanceof Error ? e.message : String(e)} [INTERNAL]\n`);
    return 1;
  }
}
