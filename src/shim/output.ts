/**
 * What cosign prints, as closely as an answer from the appliance allows. On success cosign writes
 * the verified simple-signing payloads as one JSON array to stdout and a short list of the checks it
 * performed to stderr; on failure an `Error: ...` line to stderr. The payload printed here is built
 * from the appliance's decision (the repository and the resolved digest), not the signed bytes
 * themselves: callers such as Mercure read the exit status, people read the rest. Pure.
 */
import type { ApplianceDecision, VerifyOutcome } from './client.ts';

/** `host/repo` from `host/repo:tag`, `host/repo@sha256:...` or `host:5000/repo:tag`. */
export function repositoryOf(reference: string): string {
  const noDigest = reference.split('@', 1)[0] ?? reference;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

function policyNames(decision: ApplianceDecision): string[] {
  const policies = decision.raw['policies'];
  if (!Array.isArray(policies)) return [];
  return policies.flatMap((p: unknown) => {
    if (typeof p === 'object' && p !== null && 'name' in p && typeof p.name === 'string') return [p.name];
    return [];
  });
}

/** The stdout line for an allowed image: `[{"critical":{...},"optional":{...}}]`. */
export function payloadLine(decision: ApplianceDecision): string {
  const reference = decision.pinned ?? decision.image;
  const optional: Record<string, unknown> = {
    'countersign.pinned': decision.pinned,
    'countersign.policies': policyNames(decision),
  };
  const receipt = decision.raw['receipt'];
  if (typeof receipt === 'object' && receipt !== null && 'index' in receipt) {
    optional['countersign.auditEntry'] = receipt.index;
  }
  const payload = {
    critical: {
      identity: { 'docker-reference': repositoryOf(reference) },
      image: { 'docker-manifest-digest': decision.digest },
      type: 'cosign container image signature',
    },
    optional,
  };
  return `${JSON.stringify([payload])}\n`;
}

/** The stderr block cosign prints before the payloads. */
export function verificationHeader(image: string, decision: ApplianceDecision): string {
  const names = policyNames(decision);
  const policies = names.length === 0 ? 'its policy' : `policy ${names.join(', ')}`;
  return (
    `\nVerification for ${image} --\n` +
    'The following checks were performed on each of these signatures:\n' +
    '  - The cosign claims were validated\n' +
    `  - The signatures were verified by the countersign appliance against ${policies}\n` +
    `  - The image resolved to ${decision.pinned ?? decision.digest ?? '(unknown)'}; run that digest, not the tag\n` +
    '  - The decision was recorded in the appliance audit trail\n'
  );
}

/** One `Error:` line for anything but an allow, always naming a reason code. */
export function denialMessage(image: string, outcome: VerifyOutcome): string {
  switch (outcome.kind) {
    case 'decision': {
      const d = outcome.decision;
      return `Error: countersign denied ${image} [${d.code ?? 'DENIED'}]: ${d.explanation || 'no explanation given'}\n`;
    }
    case 'error':
      return (
        `Error: countersign appliance refused to verify ${image} (HTTP ${outcome.status}) [${outcome.code}]: ` +
        `${outcome.message}; treating as denied\n`
      );
    case 'unavailable':
      return `Error: no decision for ${image} [${outcome.reason}]: ${outcome.message}; treating as denied\n`;
  }
}
