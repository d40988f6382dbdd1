import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A PEM certificate with its PEM private key (PKCS#8, EC P-256). */
export interface CertificateAndKey {
  readonly cert: string;
  readonly key: string;
  /** RFC 8705 §3.1 `x5t#S256`: base64url SHA-256 of the certificate's DER. */
  readonly thumbprint: string;
}

/** What a certificate is for and whom it names. */
export interface CertificateRequest {
  /** Subject CN. */
  commonName: string;
  /** subjectAltName DNS names. Default `['localhost']` for servers, none for clients. */
  dnsNames?: string[];
  /** subjectAltName IP addresses. Default `['127.0.0.1']` for servers, none for clients. */
  ipAddresses?: string[];
  /** `'server'` (serverAuth, default) or `'client'` (clientAuth). */
  usage?: 'server' | 'client';
  /** Days of validity. Default 2. */
  days?: number;
}

/** A private certificate authority for tests: its root, and certificates it issues. */
export interface TestCertificateAuthority extends CertificateAndKey {
  issue(request: CertificateRequest): CertificateAndKey;
}

/** `x5t#S256` of a PEM certificate (RFC 8705 §3.1). */
export function certificateThumbprint(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');
}

/**
 * A new private CA (EC P-256, made with the `openssl` command), e.g. for an https fake ID service
 * that only a client trusting this CA can reach, or for mTLS client certificates.
 */
export function createCertificateAuthority(commonName = 'Test Root CA'): TestCertificateAuthority {
  const root = withTempDir((dir) => {
    const key = join(dir, 'ca.key');
    const cert = join(dir, 'ca.pem');
    generateKey(key);
    openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      key,
      '-out',
      cert,
      '-days',
      '3',
      '-subj',
      subject(commonName),
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return read(cert, key);
  });
  return {
    ...root,
    issue: (request) => issue(root, request),
  };
}

/** A self-signed end-entity certificate (e.g. for `self_signed_tls_client_auth`). */
export function selfSignedCertificate(request: CertificateRequest): CertificateAndKey {
  return withTempDir((dir) => {
    const key = join(dir, 'leaf.key');
    const cert = join(dir, 'leaf.pem');
    generateKey(key);
    openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      key,
      '-out',
      cert,
      '-days',
      String(request.days ?? 2),
      '-subj',
      subject(request.commonName),
      ...extensionArgs(request, '-addext'),
    ]);
    return read(cert, key);
  });
}

function issue(ca: CertificateAndKey, request: CertificateRequest): CertificateAndKey {
  return withTempDir((dir) => {
    const caKey = join(dir, 'ca.key');
    const caCert = join(dir, 'ca.pem');
    writeFileSync(caKey, ca.key);
    writeFileSync(caCert, ca.cert);
    const key = join(dir, 'leaf.key');
    const csr = join(dir, 'leaf.csr');
    const cert = join(dir, 'leaf.pem');
    const extensions = join(dir, 'leaf.ext');
    generateKey(key);
    openssl(['req', '-new', '-key', key, '-out', csr, '-subj', subject(request.commonName)]);
    writeFileSync(extensions, extensionLines(request).join('\n') + '\n');
    openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caCert,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      String(request.days ?? 2),
      '-extfile',
      extensions,
    ]);
    return read(cert, key);
  });
}

function extensionLines(request: CertificateRequest): string[] {
  const client = request.usage === 'client';
  const dns = request.dnsNames ?? (client ? [] : ['localhost']);
  const ips = request.ipAddresses ?? (client ? [] : ['127.0.0.1']);
  const names = [...dns.map((name) => `DNS:${name}`), ...ips.map((ip) => `IP:${ip}`)];
  return [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    `extendedKeyUsage=${client ? 'clientAuth' : 'serverAuth'}`,
    ...(names.length > 0 ? [`subjectAltName=${names.join(',')}`] : []),
  ];
}

function extensionArgs(request: CertificateRequest, flag: string): string[] {
  return extensionLines(request).flatMap((line) => [flag, line]);
}

function generateKey(path: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

function subject(commonName: string): string {
  return `/CN=${commonName.replace(/[/=\\]/g, '_')}`;
}

function read(certPath: string, keyPath: string): CertificateAndKey {
  const cert = readFileSync(certPath, 'utf8');
  return { cert, key: readFileSync(keyPath, 'utf8'), thumbprint: certificateThumbprint(cert) };
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function withTempDir<T>(use: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'test-tls-'));
  try {
    return use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
