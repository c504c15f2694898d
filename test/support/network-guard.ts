/**
 * Preloaded with `node --import` into a process under test: every outgoing TCP connection and DNS
 * lookup is recorded in the file named by NETWORK_GUARD_LOG; connections to anything other than
 * NETWORK_GUARD_ALLOW (comma-separated host:port) are refused on the spot.
 */
import dns from 'node:dns';
import { appendFileSync } from 'node:fs';
import net from 'node:net';

const log = process.env['NETWORK_GUARD_LOG'];
const allow = new Set((process.env['NETWORK_GUARD_ALLOW'] ?? '').split(',').filter(Boolean));

function record(kind: string, target: string): void {
  if (log !== undefined) appendFileSync(log, `${kind} ${target}\n`);
}

interface ConnectTarget {
  host?: string;
  port?: number | string;
  path?: string;
}

function targetOf(args: unknown[]): string {
  const first = args[0];
  const opts: ConnectTarget =
    Array.isArray(first) && typeof first[0] === 'object'
      ? (first[0] as ConnectTarget)
      : typeof first === 'object' && first !== null
        ? first
        : { port: first as number, host: typeof args[1] === 'string' ? args[1] : 'localhost' };
  if (opts.path !== undefined) return `unix:${opts.path}`;
  return `${opts.host ?? 'localhost'}:${String(opts.port)}`;
}

type Connect = (this: net.Socket, ...args: unknown[]) => net.Socket;
const prototype = net.Socket.prototype as unknown as { connect: Connect };
const connect = prototype.connect;
prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]): net.Socket {
  const target = targetOf(args);
  if (!allow.has(target)) {
    record('connect-refused', target);
    process.nextTick(() => this.destroy(new Error(`network guard: connection to ${target} refused`)));
    return this;
  }
  record('connect-allowed', target);
  return connect.apply(this, args);
};

type Lookup = (this: unknown, host: string, ...rest: unknown[]) => unknown;
const dnsFunctions = dns as unknown as Record<string, Lookup>;
for (const name of ['lookup', 'resolve', 'resolve4', 'resolve6']) {
  const original = dnsFunctions[name];
  if (original === undefined) continue;
  dnsFunctions[name] = function guardedLookup(this: unknown, host: string, ...rest: unknown[]): unknown {
    record('dns', host);
    return original.call(this, host, ...rest);
  };
}
