/**
 * `countersign token create|list|revoke`: API tokens for the appliance (Part 11 §11.10(d), (g)).
 *
 *   countersign token create [--config DIR] --name NAME --role verifier|auditor|admin [--reason TEXT]
 *   countersign token list [--config DIR] [--json]
 *   countersign token revoke [--config DIR] --name NAME [--reason TEXT]
 *
 * The token is printed once, alone on the last line; only its hash is stored. Creation and
 * revocation are `config-change` entries in the audit trail. Without --config the data directory
 * is ./data, the one `countersign serve` uses with the embedded demo configuration.
 */
import { parseCommandArgs } from './args.ts';
import { userInfo } from 'node:os';
import path from 'node:path';
import { generateToken, isRole } from '../auth/index.ts';
import type { TokenRecord } from '../auth/index.ts';
import { CountersignError } from '../errors.ts';
import { dataDirOf } from '../config/load.ts';
import { openApplianceData } from '../server/data.ts';
import type { CliIO } from './io.ts';

const USAGE = `usage:
  countersign token create [--config DIR] --name NAME --role verifier|auditor|admin [--reason TEXT]
  countersign token list [--config DIR] [--json]
  countersign token revoke [--config DIR] --name NAME [--reason TEXT]

roles: verifier (POST /v1/verify only), auditor (audit trail, metrics, configuration reads),
       admin (configuration changes and everything an auditor may read)
`;

function usage(message: string): CountersignError {
  return new CountersignError('USAGE', `${message}\n${USAGE}`);
}

function parse(args: string[]) {
  return parseCommandArgs(
    {
      args,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string' },
        name: { type: 'string' },
        role: { type: 'string' },
        reason: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    },
    USAGE,
  );
}

/** Who ran the command: the operating system account, as the audit trail's actor. */
function cliActor(io: CliIO): string {
  let user = io.env['USER'] ?? io.env['LOGNAME'];
  if (user === undefined || user === '') {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `cli:${user}`;
}

function formatRecord(r: TokenRecord): string {
  const revoked = r.revokedAt === null ? 'active' : `revoked ${r.revokedAt} by ${r.revokedBy ?? '?'}`;
  return `${r.name.padEnd(24)} ${r.role.padEnd(9)} ${r.id}  created ${r.createdAt} by ${r.createdBy}  ${revoked}`;
}

export function run(args: string[], io: CliIO): Promise<number> {
  // Everything below is synchronous (SQLite); a throw rejects the promise like in other commands.
  return new Promise((resolve) => {
    resolve(runSync(args, io));
  });
}

function runSync(args: string[], io: CliIO): number {
  const { values: v, positionals } = parse(args);
  if (v.help === true) {
    io.stdout(USAGE);
    return 0;
  }
  const [action, ...extra] = positionals;
  if (action === undefined || extra.length > 0) throw usage('expected one of: create, list, revoke');
  const dataDir =
    v.config === undefined ? path.resolve(io.cwd, 'data') : dataDirOf(path.resolve(io.cwd, v.config));
  const actor = cliActor(io);
  const reason = v.reason ?? `token ${action} from the command line`;
  const data = openApplianceData({ dataDir, softwareVersion: io.version });
  try {
    switch (action) {
      case 'create': {
        const name = v.name;
        const role = v.role;
        if (name === undefined) throw usage('--name is required');
        if (role === undefined || !isRole(role)) throw usage('--role must be verifier, auditor or admin');
        if (data.tokens.byName(name) !== undefined) {
          throw new CountersignError(
            'USAGE',
            `a token named ${name} exists or existed: names are never reused`,
          );
        }
        const fresh = generateToken();
        // Recorded before it exists: a token the trail does not know of is never issued.
        const entry = data.audit.append({
          kind: 'config-change',
          actor,
          payload: {
            target: 'token',
            action: 'create',
            token: name,
            tokenId: fresh.id,
            role,
            reason,
            oldState: null,
            newState: { role, revoked: false },
          },
        });
        const { record, token } = data.tokens.create({ name, role, createdBy: actor }, fresh);
        io.stdout(
          `created token ${record.name} (role ${record.role}, id ${record.id}); audit entry ${entry.index}\n` +
            'it is shown only now; store it where the caller can read it:\n' +
            `${token}\n`,
        );
        return 0;
      }
      case 'list': {
        const records = data.tokens.list();
        if (v.json) io.stdout(`${JSON.stringify(records, null, 2)}\n`);
        else io.stdout(records.length === 0 ? 'no tokens\n' : `${records.map(formatRecord).join('\n')}\n`);
        return 0;
      }
      case 'revoke': {
        const name = v.name;
        if (name === undefined) throw usage('--name is required');
        const existing = data.tokens.byName(name);
        if (existing === undefined) throw new CountersignError('NOT_FOUND', `no token named ${name}`);
        if (existing.revokedAt !== null)
          throw new CountersignError('USAGE', `token ${name} is already revoked`);
        const entry = data.audit.append({
          kind: 'config-change',
          actor,
          payload: {
            target: 'token',
            action: 'revoke',
            token: name,
            tokenId: existing.id,
            role: existing.role,
            reason,
            oldState: { role: existing.role, revoked: false },
            newState: { role: existing.role, revoked: true },
          },
        });
        data.tokens.revoke(name, actor);
        io.stdout(`revoked token ${name} (id ${existing.id}); audit entry ${entry.index}\n`);
        return 0;
      }
      default:
        throw usage(`unknown action ${action}`);
    }
  } finally {
    data.close();
  }
}
