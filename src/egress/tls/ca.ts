// The run's certificate authority: an ECDSA P-256 key and self-signed CA certificate made
// when the run starts (valid for the run plus a day, path length 0, name constraints would
// break wildcard hosts so none), and leaf certificates for each inspected host, signed on
// first use and cached. The private keys exist only in this process's memory; the sandbox
// gets the CA certificate alone.
import 'reflect-metadata';
import crypto, { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type KeyPair = webcrypto.CryptoKeyPair;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface LeafCert {
  cert: string;
  key: string;
}

function pemKey(der: ArrayBuffer): string {
  return crypto.createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
}

function serial(): string {
  const b = crypto.randomBytes(16);
  b[0]! &= 0x7f; // positive
  return b.toString('hex');
}

export class RunCa {
  private readonly leaves = new Map<string, Promise<LeafCert>>();

  private constructor(
    private readonly caKeys: KeyPair,
    private readonly caCert: x509.X509Certificate,
    private readonly leafKeys: KeyPair,
    private readonly leafKeyPem: string,
    private readonly notAfter: Date,
  ) {}

  static async create(o: { name?: string; validHours?: number } = {}): Promise<RunCa> {
    const subtle = webcrypto.subtle;
    const caKeys = (await subtle.generateKey(ALG, false, ['sign', 'verify'])) as KeyPair;
    const notBefore = new Date(Date.now() - 3600_000);
    const notAfter = new Date(Date.now() + (o.validHours ?? 48) * 3600_000);
    const caCert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=${o.name ?? 'Warden run CA'}, O=Warden (per-run, key never leaves the proxy)`,
      notBefore,
      notAfter,
      keys: caKeys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });
    // One leaf key for every host of the run (its certificates differ by name).
    const leafKeys = (await subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
    const leafKeyPem = pemKey(await subtle.exportKey('pkcs8', leafKeys.privateKey));
    return new RunCa(caKeys, caCert, leafKeys, leafKeyPem, notAfter);
  }

  /** The CA certificate (PEM), the only part that goes into the sandbox. */
  get certPem(): string {
    return this.caCert.toString('pem') + '\n';
  }

  /** A certificate for `host` signed by the run CA (cached per name). */
  leaf(host: string): Promise<LeafCert> {
    let p = this.leaves.get(host);
    if (!p) {
      p = this.issue(host);
      this.leaves.set(host, p);
      p.catch(() => this.leaves.delete(host));
    }
    return p;
  }

  private async issue(host: string): Promise<LeafCert> {
    const isIp = /^[\d.]+$/.test(host) || host.includes(':');
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${isIp ? 'warden-ip' : host}`,
      issuer: this.caCert.subject,
      notBefore: new Date(Date.now() - 3600_000),
      notAfter: this.notAfter,
      signingKey: this.caKeys.privateKey,
      publicKey: this.leafKeys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension([isIp ? { type: 'ip', value: host } : { type: 'dns', value: host }], false),
        await x509.AuthorityKeyIdentifierExtension.create(this.caCert, false),
      ],
    });
    return { cert: cert.toString('pem') + '\n' + this.certPem, key: this.leafKeyPem };
  }
}
