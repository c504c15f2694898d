/** A scripted stand-in for the appliance's POST /v1/verify, on 127.0.0.1, recording each request. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly body: unknown;
}

export interface FakeAnswer {
  readonly status: number;
  readonly body: unknown;
}

export interface FakeAppliance {
  readonly url: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** What the appliance answers for an allowed image. */
export function allowAnswer(image: string, policy = 'vendor-a'): FakeAnswer {
  const repo = image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  return {
    status: 200,
    body: {
      allowed: true,
      code: null,
      explanation: `policy ${policy}: 1 of 1 signers satisfied`,
      image,
      digest: DIGEST,
      pinned: `${repo}@${DIGEST}`,
      policies: [{ name: policy, contentHash: `sha256:${'cd'.repeat(32)}`, allowed: true }],
      receipt: { index: 7 },
    },
  };
}

export function denyAnswer(image: string, code: string, explanation: string): FakeAnswer {
  return {
    status: 200,
    body: { allowed: false, code, explanation, image, digest: DIGEST, pinned: null, policies: [] },
  };
}

/**
 * `answer` decides per request; returning undefined leaves the request hanging (an appliance that
 * accepted the connection and never answers).
 */
export async function startFakeAppliance(
  answer: (req: RecordedRequest) => FakeAnswer | undefined,
): Promise<FakeAppliance> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = undefined;
      }
      const recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        body,
      };
      requests.push(recorded);
      const a = answer(recorded);
      if (a === undefined) return;
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(a.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
