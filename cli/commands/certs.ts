/**
 * `tago-edge certs --out DIR [--hosts localhost,127.0.0.1] [--client CN ...]`: a local CA, a server
 * certificate for those hosts (DNS or IP subject alternative names) and optional client certificates
 * (mTLS: the CN is matched against `devices[].certificateCN`).
 *
 * node:crypto can make keys but not X.509 certificates, so this shells out to `openssl` (1.1.1 or 3.x,
 * with execFile: no shell). docs/security.md lists the equivalent openssl commands. Keys are EC P-256
 * (fast handshakes), written with mode 0600. For a lab or a private fleet; a public deployment should use
 * a certificate from the organisation's CA.
 * Exit codes: 0 done, 1 openssl failed or is missing, 2 bad usage.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { UsageError } from '../usage-error.js';

const run = promisify(execFile);

export interface CertsOptions {
  out: string;
  hosts?: string[];
  clients?: string[];
  days?: number;
  /** Replace files that exist (the CA key included). */
  force?: boolean;
}

export interface CertFiles {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clients: Array<{ cn: string; cert: string; key: string }>;
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A file name for a CN: letters, digits, `.`, `_` and `-` kept, anything else `_`. */
export function safeName(cn: string): string {
  return cn.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** The `-subj` form of a CN, with the characters openssl treats specially escaped. */
function subject(cn: string): string {
  return `/CN=${cn.replace(/[\\/+=,]/g, (c) => `\\${c}`)}`;
}

function serial(): string {
  return `0x${randomBytes(16)
    .toString('hex')
    .replace(/^[89a-f]/, '7')}`;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error('openssl was not found on PATH (install it, e.g. apt-get install openssl)');
    throw new Error(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

async function signed(
  out: string,
  base: string,
  cn: string,
  extensions: string,
  files: { caCert: string; caKey: string },
  days: number,
): Promise<{ cert: string; key: string }> {
  const key = join(out, `${base}.key`);
  const csr = join(out, `${base}.csr`);
  const cert = join(out, `${base}.crt`);
  const ext = join(out, `${base}.ext`);
  writeFileSync(ext, extensions);
  await openssl(['req', ...KEY_ARGS, '-keyout', key, '-out', csr, '-subj', subject(cn)]);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    files.caCert,
    '-CAkey',
    files.caKey,
    '-set_serial',
    serial(),
    '-days',
    String(days),
    '-sha256',
    '-extfile',
    ext,
    '-out',
    cert,
  ]);
  rmSync(csr, { force: true });
  rmSync(ext, { force: true });
  chmodSync(key, 0o600);
  return { cert, key };
}

export async function createCertificates(opts: CertsOptions): Promise<CertFiles> {
  const out = opts.out;
  const hosts = opts.hosts?.length ? opts.hosts : ['localhost', '127.0.0.1', '::1'];
  const days = opts.days ?? 825;
  mkdirSync(out, { recursive: true });
  const caCert = join(out, 'ca.crt');
  const caKey = join(out, 'ca.key');
  if (!opts.force && existsSync(caKey)) {
    throw new UsageError(`--out: ${caKey} exists (use --force to replace the CA and everything it signed)`);
  }
  await openssl([
    'req',
    '-x509',
    ...KEY_ARGS,
    '-keyout',
    caKey,
    '-out',
    caCert,
    '-days',
    String(days + 365),
    '-sha256',
    '-subj',
    subject('tago-edge local CA'),
    '-addext',
    'basicConstraints=critical,CA:TRUE,pathlen:0',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  chmodSync(caKey, 0o600);
  const ca = { caCert, caKey };
  const san = hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  const server = await signed(
    out,
    'server',
    hosts[0] as string,
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
    ca,
    days,
  );
  const clients: CertFiles['clients'] = [];
  for (const cn of opts.clients ?? []) {
    const c = await signed(
      out,
      `client-${safeName(cn)}`,
      cn,
      'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
      ca,
      days,
    );
    clients.push({ cn, ...c });
  }
  return { caCert, caKey, serverCert: server.cert, serverKey: server.key, clients };
}

function list(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

export function registerCerts(program: Command): void {
  program
    .command('certs')
    .description('create a local CA, a server certificate and optional client certificates (mTLS), with openssl')
    .requiredOption('-o, --out <dir>', 'directory to write ca.crt/key, server.crt/key, client-<CN>.crt/key')
    .option('--hosts <list>', 'server names and addresses (comma-separated)', list)
    .option('--client <cn...>', 'client certificate CNs (repeatable; match devices[].certificateCN)')
    .option('--days <n>', 'validity of the server and client certificates', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--days: "${v}" is not a positive integer`);
      return n;
    })
    .option('--force', 'replace an existing CA in --out')
    .addHelpText(
      'after',
      `
Then, in the gateway config:
  mqtt: { tlsPort: 8883, wssPort: 8884, tls: { certFile: DIR/server.crt, keyFile: DIR/server.key,
          caFile: DIR/ca.crt, requestClientCert: true } }
  http: { tls: { certFile: DIR/server.crt, keyFile: DIR/server.key } }
  devices: [{ name: sensor-1, token: ..., certificateCN: sensor-1 }]
Needs openssl on PATH. See docs/security.md for the equivalent openssl commands.`,
    )
    .action(async (opts: { out: string; hosts?: string[]; client?: string[]; days?: number; force?: boolean }) => {
      let files: CertFiles;
      try {
        files = await createCertificates({
          out: opts.out,
          ...(opts.hosts ? { hosts: opts.hosts } : {}),
          ...(opts.client ? { clients: opts.client } : {}),
          ...(opts.days ? { days: opts.days } : {}),
          ...(opts.force ? { force: true } : {}),
        });
      } catch (err) {
        if (err instanceof UsageError) throw err;
        process.stderr.write(`tago-edge certs: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      const lines = [
        `CA:     ${files.caCert} (key ${files.caKey}: keep it private)`,
        `server: ${files.serverCert}, ${files.serverKey}`,
        ...files.clients.map((c) => `client: CN=${c.cn} ${c.cert}, ${c.key}`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
