/**
 * An in-process private Sigstore for tests, after sigstore-go's `testing/ca` virtual Sigstore:
 * a CA (root + intermediate), Fulcio-style leaf certificates (issuer extensions, SAN, codeSigning
 * EKU, embedded SCTs), a CT log, a Rekor-style log that signs SETs over hashedrekord entries, a
 * TSA certificate chain, and the matching trusted_root.json. Bundles it makes are v0.1 (SET as
 * inclusion promise), which @sigstore/bundle accepts without an inclusion proof.
 * Not made here: RFC 3161 timestamp tokens and Merkle inclusion proofs / checkpoints.
 */
import { createHash, createPublicKey, KeyObject, sign, webcrypto } from 'node:crypto';
import type * as X509Types from '@peculiar/x509';

// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API:
// reflect-metadata must load first, hence the dynamic import below.
await import('reflect-metadata');
const x509: typeof X509Types = await import('@peculiar/x509');
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const OID_FULCIO_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_SCT_LIST = '1.3.6.1.4.1.11129.2.4.2';
const OID_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const OID_TIME_STAMPING = '1.3.6.1.5.5.7.3.8';
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly webKeys: CryptoKeyPair;
  /** DER SubjectPublicKeyInfo. */
  readonly spki: Buffer;
}

export interface CertificateAuthority {
  readonly root: X509Types.X509Certificate;
  readonly intermediate: X509Types.X509Certificate;
  readonly rootKeys: KeyPair;
  readonly intermediateKeys: KeyPair;
}

export interface LeafOptions {
  /** Email SAN (default `signer@hospital.example`), unless `uri` is given. */
  readonly email?: string;
  readonly uri?: string;
  /** OIDC issuer in 1.3.6.1.4.1.57264.1.8 (default `https://sso.hospital.example`); null for none. */
  readonly issuer?: string | null;
  /** Also write the legacy 1.3.6.1.4.1.57264.1.1 issuer extension. */
  readonly legacyIssuer?: string;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Include the codeSigning EKU (default true). */
  readonly codeSigning?: boolean;
  /** Embed an SCT from the virtual CT log (default true). */
  readonly sct?: boolean;
  /** Issue from another CA, one the trusted root does not know. */
  readonly ca?: CertificateAuthority;
}

export interface Leaf {
  readonly certificate: X509Types.X509Certificate;
  readonly der: Buffer;
  readonly keys: KeyPair;
  /** The CA that issued it (its intermediate is the direct issuer). */
  readonly ca: CertificateAuthority;
}

export interface BundleOptions {
  /** Rekor integrated time (default: now). */
  readonly integratedTime?: Date;
  /** Put a different body in the entry than the one the SET signs. */
  readonly tamperedBody?: boolean;
  /** Leave the log entry out entirely. */
  readonly withoutTlogEntry?: boolean;
  /** Also put the issuing intermediate into the bundle's chain. */
  readonly includeIntermediate?: boolean;
}

export interface TrustedRootOptions {
  /** `validFor` of the CA in the trusted root (default: root notBefore, no end). */
  readonly caValidFor?: { readonly start: Date; readonly end?: Date };
  readonly withTlog?: boolean;
  readonly withCtlog?: boolean;
  readonly withTsa?: boolean;
  readonly withCa?: boolean;
}

export class VirtualSigstore {
  readonly ca: CertificateAuthority;
  readonly rekorKeys: KeyPair;
  readonly ctlogKeys: KeyPair;
  readonly tsaChain: readonly X509Types.X509Certificate[];
  private logIndex = 0;

  private constructor(
    ca: CertificateAuthority,
    rekor: KeyPair,
    ctlog: KeyPair,
    tsaChain: X509Types.X509Certificate[],
  ) {
    this.ca = ca;
    this.rekorKeys = rekor;
    this.ctlogKeys = ctlog;
    this.tsaChain = tsaChain;
  }

  static async create(): Promise<VirtualSigstore> {
    const ca = await createCertificateAuthority('virtual-sigstore');
    const rekor = await generateKeyPair();
    const ctlog = await generateKeyPair();
    const tsaKeys = await generateKeyPair();
    const tsaLeaf = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: 'CN=virtual-sigstore-tsa, O=countersign tests',
      issuer: ca.root.subject,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 365 * DAY),
      publicKey: tsaKeys.webKeys.publicKey,
      signingKey: ca.rootKeys.webKeys.privateKey,
      signingAlgorithm: SIGNING_ALG,
      extensions: [new x509.ExtendedKeyUsageExtension([OID_TIME_STAMPING], true)],
    });
    return new VirtualSigstore(ca, rekor, ctlog, [tsaLeaf, ca.root]);
  }

  /** The trusted_root.json (protobuf-JSON) for this instance. */
  trustedRoot(opts: TrustedRootOptions = {}): Record<string, unknown> {
    const caStart = opts.caValidFor?.start ?? this.ca.root.notBefore;
    const caEnd = opts.caValidFor?.end;
    const logStart = this.ca.root.notBefore.toISOString();
    const log = (keys: KeyPair, url: string): Record<string, unknown> => ({
      baseUrl: url,
      hashAlgorithm: 'SHA2_256',
      publicKey: {
        rawBytes: keys.spki.toString('base64'),
        keyDetails: 'PKIX_ECDSA_P256_SHA_256',
        validFor: { start: logStart },
      },
      logId: { keyId: logId(keys).toString('base64') },
    });
    const root: Record<string, unknown> = {
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    };
    if (opts.withTlog ?? true) root['tlogs'] = [log(this.rekorKeys, 'https://rekor.virtual.invalid')];
    if (opts.withCa ?? true) {
      root['certificateAuthorities'] = [
        {
          subject: { organization: 'countersign tests', commonName: 'virtual-sigstore' },
          uri: 'https://fulcio.virtual.invalid',
          certChain: {
            certificates: [this.ca.intermediate, this.ca.root].map((c) => ({
              rawBytes: derOf(c).toString('base64'),
            })),
          },
          validFor:
            caEnd === undefined
              ? { start: caStart.toISOString() }
              : { start: caStart.toISOString(), end: caEnd.toISOString() },
        },
      ];
    }
    if (opts.withCtlog ?? true) root['ctlogs'] = [log(this.ctlogKeys, 'https://ctfe.virtual.invalid')];
    if (opts.withTsa ?? false) {
      root['timestampAuthorities'] = [
        {
          subject: { organization: 'countersign tests', commonName: 'virtual-sigstore-tsa' },
          uri: 'https://tsa.virtual.invalid',
          certChain: { certificates: this.tsaChain.map((c) => ({ rawBytes: derOf(c).toString('base64') })) },
          validFor: { start: this.ca.root.notBefore.toISOString() },
        },
      ];
    }
    return root;
  }

  /** A Fulcio-style code signing certificate. */
  async issueLeaf(opts: LeafOptions = {}): Promise<Leaf> {
    const ca = opts.ca ?? this.ca;
    const keys = await generateKeyPair();
    const notBefore = opts.notBefore ?? new Date(Date.now() - MINUTE);
    const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + 10 * MINUTE);
    const serialNumber = randomSerial();
    const extensions: X509Types.Extension[] = [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ...(opts.codeSigning === false ? [] : [new x509.ExtendedKeyUsageExtension([OID_CODE_SIGNING])]),
      await x509.SubjectKeyIdentifierExtension.create(keys.webKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.intermediateKeys.webKeys.publicKey),
      new x509.SubjectAlternativeNameExtension(
        opts.uri !== undefined
          ? [{ type: 'url', value: opts.uri }]
          : [{ type: 'email', value: opts.email ?? 'signer@hospital.example' }],
        true,
      ),
    ];
    const issuer = opts.issuer === undefined ? 'https://sso.hospital.example' : opts.issuer;
    if (issuer !== null)
      extensions.push(new x509.Extension(OID_FULCIO_ISSUER_V2, false, derUtf8String(issuer)));
    if (opts.legacyIssuer !== undefined) {
      extensions.push(
        new x509.Extension(OID_FULCIO_ISSUER_V1, false, Buffer.from(opts.legacyIssuer, 'utf8')),
      );
    }
    const params = {
      serialNumber,
      subject: '',
      issuer: ca.intermediate.subject,
      notBefore,
      notAfter,
      publicKey: keys.webKeys.publicKey,
      signingKey: ca.intermediateKeys.webKeys.privateKey,
      signingAlgorithm: SIGNING_ALG,
    };
    let certificate = await x509.X509CertificateGenerator.create({ ...params, extensions });
    if (opts.sct ?? true) {
      // RFC 6962 section 3.2: the SCT signs the precertificate TBS (the TBS without the SCT list);
      // re-issuing with the same fields plus the SCT list as the last extension reproduces it.
      const tbs = tbsCertificate(derOf(certificate));
      const sct = this.signSct(tbs, ca.intermediateKeys.spki, notBefore);
      extensions.push(new x509.Extension(OID_SCT_LIST, false, derOctetString(sctList([sct]))));
      certificate = await x509.X509CertificateGenerator.create({ ...params, extensions });
    }
    return { certificate, der: derOf(certificate), keys, ca };
  }

  /** A v0.1 bundle: message signature over `artifact` by `leaf`, with a Rekor SET. */
  bundleForArtifact(leaf: Leaf, artifact: Uint8Array, opts: BundleOptions = {}): Record<string, unknown> {
    const digest = createHash('sha256').update(artifact).digest();
    const signature = sign('sha256', artifact, leaf.keys.privateKey);
    const chain = opts.includeIntermediate === true ? [leaf.der, derOf(leaf.ca.intermediate)] : [leaf.der];
    const tlogEntries =
      opts.withoutTlogEntry === true
        ? []
        : [this.logEntry(digest, signature, pem('CERTIFICATE', leaf.der), opts)];
    return {
      mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
      verificationMaterial: {
        x509CertificateChain: { certificates: chain.map((c) => ({ rawBytes: c.toString('base64') })) },
        tlogEntries,
      },
      messageSignature: {
        messageDigest: { algorithm: 'SHA2_256', digest: digest.toString('base64') },
        signature: signature.toString('base64'),
      },
    };
  }

  /** A v0.1 bundle signed with a bare key (publicKey hint), with a Rekor SET. */
  bundleForKey(keys: KeyPair, artifact: Uint8Array, opts: BundleOptions = {}): Record<string, unknown> {
    const digest = createHash('sha256').update(artifact).digest();
    const signature = sign('sha256', artifact, keys.privateKey);
    return {
      mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
      verificationMaterial: {
        publicKey: { hint: logId(keys).toString('hex') },
        tlogEntries:
          opts.withoutTlogEntry === true
            ? []
            : [this.logEntry(digest, signature, pem('PUBLIC KEY', keys.spki), opts)],
      },
      messageSignature: {
        messageDigest: { algorithm: 'SHA2_256', digest: digest.toString('base64') },
        signature: signature.toString('base64'),
      },
    };
  }

  /** A hashedrekord v0.0.1 entry with a SET (Rekor's signed entry timestamp). */
  private logEntry(
    digest: Buffer,
    signature: Buffer,
    verifierPem: string,
    opts: BundleOptions,
  ): Record<string, unknown> {
    const body = (sig: Buffer): Buffer =>
      Buffer.from(
        JSON.stringify({
          apiVersion: '0.0.1',
          kind: 'hashedrekord',
          spec: {
            data: { hash: { algorithm: 'sha256', value: digest.toString('hex') } },
            signature: {
              content: sig.toString('base64'),
              publicKey: { content: Buffer.from(verifierPem).toString('base64') },
            },
          },
        }),
      );
    const signedBody = body(signature);
    const integratedTime = Math.floor((opts.integratedTime ?? new Date()).getTime() / 1000);
    const logIndex = this.logIndex++;
    const id = logId(this.rekorKeys);
    // Rekor SET: signature over the canonical JSON of body, integratedTime, logID and logIndex.
    const payload = canonicalJson({
      body: signedBody.toString('base64'),
      integratedTime,
      logID: id.toString('hex'),
      logIndex,
    });
    const set = sign('sha256', Buffer.from(payload), this.rekorKeys.privateKey);
    const entryBody =
      opts.tamperedBody === true ? body(Buffer.concat([signature, Buffer.from([0])])) : signedBody;
    return {
      logIndex: String(logIndex),
      logId: { keyId: id.toString('base64') },
      kindVersion: { kind: 'hashedrekord', version: '0.0.1' },
      integratedTime: String(integratedTime),
      inclusionPromise: { signedEntryTimestamp: set.toString('base64') },
      canonicalizedBody: entryBody.toString('base64'),
    };
  }

  private signSct(tbs: Buffer, issuerSpki: Buffer, when: Date): Buffer {
    const timestamp = Buffer.alloc(8);
    timestamp.writeBigUInt64BE(BigInt(when.getTime()));
    const tbsLength = Buffer.alloc(3);
    tbsLength.writeUIntBE(tbs.length, 0, 3);
    const signed = Buffer.concat([
      Buffer.from([0, 0]), // v1, certificate_timestamp
      timestamp,
      Buffer.from([0, 1]), // precert_entry
      createHash('sha256').update(issuerSpki).digest(),
      tbsLength,
      tbs,
      Buffer.from([0, 0]), // no extensions
    ]);
    const signature = sign('sha256', signed, this.ctlogKeys.privateKey);
    const sigLength = Buffer.alloc(2);
    sigLength.writeUInt16BE(signature.length);
    return Buffer.concat([
      Buffer.from([0]),
      logId(this.ctlogKeys),
      timestamp,
      Buffer.from([0, 0]),
      Buffer.from([4, 3]), // sha256, ecdsa
      sigLength,
      signature,
    ]);
  }
}

/** A root and an intermediate, both CAs. */
export async function createCertificateAuthority(
  name: string,
  validity: { notBefore?: Date; notAfter?: Date } = {},
): Promise<CertificateAuthority> {
  const rootKeys = await generateKeyPair();
  const intermediateKeys = await generateKeyPair();
  const notBefore = validity.notBefore ?? new Date(Date.now() - 30 * DAY);
  const notAfter = validity.notAfter ?? new Date(Date.now() + 365 * DAY);
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${name}, O=countersign tests`,
    notBefore,
    notAfter,
    keys: rootKeys.webKeys,
    signingAlgorithm: SIGNING_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.webKeys.publicKey),
    ],
  });
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${name}-intermediate, O=countersign tests`,
    issuer: root.subject,
    notBefore,
    notAfter,
    publicKey: intermediateKeys.webKeys.publicKey,
    signingKey: rootKeys.webKeys.privateKey,
    signingAlgorithm: SIGNING_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.ExtendedKeyUsageExtension([OID_CODE_SIGNING]),
      await x509.SubjectKeyIdentifierExtension.create(intermediateKeys.webKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.webKeys.publicKey),
    ],
  });
  return { root, intermediate, rootKeys, intermediateKeys };
}

export async function generateKeyPair(): Promise<KeyPair> {
  const webKeys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']);
  const privateKey = KeyObject.from(webKeys.privateKey);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, webKeys, spki: publicKey.export({ format: 'der', type: 'spki' }) };
}

/** Log IDs are the sha256 of the log key's DER SubjectPublicKeyInfo (RFC 6962 section 3.2). */
export function logId(keys: KeyPair): Buffer {
  return createHash('sha256').update(keys.spki).digest();
}

export function derOf(cert: X509Types.X509Certificate): Buffer {
  return Buffer.from(cert.rawData);
}

export function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function randomSerial(): string {
  // Positive, 16 bytes (RFC 5280 section 4.1.2.2 allows up to 20).
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

function canonicalJson(value: Record<string, string | number>): string {
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(value[k])}`).join(',')}}`;
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function derUtf8String(text: string): Buffer {
  const b = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from([0x0c]), derLength(b.length), b]);
}

function derOctetString(content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x04]), derLength(content.length), content]);
}

function sctList(scts: Buffer[]): Buffer {
  const items = scts.map((s) => {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(s.length);
    return Buffer.concat([len, s]);
  });
  const body = Buffer.concat(items);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(body.length);
  return Buffer.concat([len, body]);
}

/** The DER TBSCertificate inside a DER Certificate (first element of the outer SEQUENCE). */
function tbsCertificate(der: Buffer): Buffer {
  const [, outerHeader] = readHeader(der, 0);
  const [tbsLength, tbsHeader] = readHeader(der, outerHeader);
  return der.subarray(outerHeader, outerHeader + tbsHeader + tbsLength);
}

/** Returns [content length, header length] of the DER element at `offset`. */
function readHeader(der: Buffer, offset: number): [number, number] {
  const first = der[offset + 1] ?? 0;
  if (first < 0x80) return [first, 2];
  const n = first & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (der[offset + 2 + i] ?? 0);
  return [len, 2 + n];
}
