/**
 * Prometheus metrics, written in the text exposition format (version 0.0.4) by hand: a few
 * counters and one histogram do not justify a dependency. Pure; label sets stay small (outcomes,
 * policy names, registry hosts, reason codes).
 */
import type { RegistryRequestEvent } from '../oci/index.ts';

type Labels = Readonly<Record<string, string>>;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`).join(',')}}`;
}

class Counter {
  readonly name: string;
  readonly help: string;
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const cur = this.values.get(key);
    if (cur === undefined) this.values.set(key, { labels, value: by });
    else cur.value += by;
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [key, { value }] of [...this.values].sort(([a], [b]) => (a < b ? -1 : 1)))
      lines.push(`${this.name}${key} ${value}`);
    return lines.join('\n');
  }
}

class Histogram {
  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(name: string, help: string, buckets: readonly number[]) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
    this.counts = buckets.map(() => 0);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    this.buckets.forEach((le, i) => {
      if (value <= le) this.counts[i] = (this.counts[i] ?? 0) + 1;
    });
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((le, i) => {
      lines.push(`${this.name}_bucket{le="${String(le)}"} ${this.counts[i] ?? 0}`);
    });
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`);
    lines.push(`${this.name}_sum ${this.sum}`);
    lines.push(`${this.name}_count ${this.count}`);
    return lines.join('\n');
  }
}

/** What the appliance counts. `unrecorded`: a decision that could not be audited (answered 503). */
export type DecisionOutcome = 'allow' | 'deny' | 'unrecorded';

export interface Metrics {
  decision(outcome: DecisionOutcome, policies: readonly string[], seconds: number): void;
  registryRequest(event: RegistryRequestEvent): void;
  authRefused(reason: string): void;
  auditAppend(kind: string, ok: boolean): void;
  /** One group commit: how many entries it held, whether it committed, how long it took. */
  auditCommit(entries: number, ok: boolean, seconds: number): void;
  /** A decision looked up in the cache: answered from it (hit) or verified afresh (miss). */
  decisionCache(hit: boolean): void;
  /** The current value of a counter, for tests and /readyz-style checks. */
  value(name: string, labels?: Labels): number;
  render(): string;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createMetrics(): Metrics {
  const counters = {
    decisions: new Counter('countersign_decisions_total', 'Verification decisions by outcome.'),
    policyDecisions: new Counter(
      'countersign_policy_decisions_total',
      'Verification decisions by policy evaluated and outcome.',
    ),
    registryRequests: new Counter(
      'countersign_registry_requests_total',
      'HTTP requests to registries by host and status class.',
    ),
    registryErrors: new Counter(
      'countersign_registry_errors_total',
      'Registry requests that failed, by host and reason code.',
    ),
    authRefused: new Counter('countersign_auth_refused_total', 'Refused requests (401/403) by reason.'),
    auditAppends: new Counter('countersign_audit_appends_total', 'Audit entries written, by kind.'),
    auditFailures: new Counter(
      'countersign_audit_append_failures_total',
      'Audit entries that could not be written, by kind.',
    ),
    cacheHits: new Counter('countersign_decision_cache_hits_total', 'Decisions answered from the cache.'),
    cacheMisses: new Counter(
      'countersign_decision_cache_misses_total',
      'Decisions verified afresh while the cache was on.',
    ),
    auditCommits: new Counter(
      'countersign_audit_commits_total',
      'Group commits of decision entries (one transaction and fsync each), by outcome.',
    ),
  };
  const commitEntries = new Histogram(
    'countersign_audit_commit_entries',
    'Decision entries per group commit.',
    [1, 2, 4, 8, 16, 32, 64, 128, 256],
  );
  const commitLatency = new Histogram(
    'countersign_audit_commit_duration_seconds',
    'Time of one group commit (transaction, checkpoint signature, fsync).',
    LATENCY_BUCKETS,
  );
  const latency = new Histogram(
    'countersign_verify_duration_seconds',
    'Time to answer POST /v1/verify, audit append included.',
    LATENCY_BUCKETS,
  );
  const byName = new Map<string, Counter>(Object.values(counters).map((c) => [c.name, c]));
  return {
    decision(outcome, policies, seconds) {
      counters.decisions.inc({ outcome });
      for (const policy of policies) counters.policyDecisions.inc({ outcome, policy });
      latency.observe(seconds);
    },
    registryRequest(event) {
      const status = event.status === undefined ? 'none' : `${String(Math.floor(event.status / 100))}xx`;
      counters.registryRequests.inc({ host: event.host, status });
      if (event.error !== undefined) counters.registryErrors.inc({ host: event.host, code: event.error });
    },
    authRefused(reason) {
      counters.authRefused.inc({ reason });
    },
    auditAppend(kind, ok) {
      (ok ? counters.auditAppends : counters.auditFailures).inc({ kind });
    },
    auditCommit(entries, ok, seconds) {
      counters.auditCommits.inc({ outcome: ok ? 'committed' : 'failed' });
      commitEntries.observe(entries);
      commitLatency.observe(seconds);
    },
    decisionCache(hit) {
      (hit ? counters.cacheHits : counters.cacheMisses).inc();
    },
    value: (name, labels = {}) => byName.get(name)?.get(labels) ?? 0,
    render: () =>
      `${[...Object.values(counters).map((c) => c.render()), latency.render(), commitEntries.render(), commitLatency.render()].join('\n')}\n`,
  };
}
