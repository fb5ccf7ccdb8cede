/**
 * A real mosquitto 2 (Debian's /usr/sbin/mosquitto) standing in for another cloud's MQTT broker, with the
 * two ways clouds let a client in:
 * - `url`: TLS with client certificates (AWS IoT Core's way): `require_certificate`, and the certificate's
 *   CN is the client's identity (`use_identity_as_username`), so a client without one is refused in the
 *   handshake;
 * - `passwordUrl`: TLS with a username and password (Azure IoT Hub's way: a SAS token as the password);
 *   wrong credentials get CONNACK 5.
 * The CA, the server certificate (127.0.0.1, localhost) and a client certificate come from
 * `createCertificates` (what `tago-edge certs` runs). Persistence is off: a stopped broker forgets
 * everything, like a cloud broker that lost the connection's session. `stop()` then `start()` keeps the ports and the certificates; `pause()`/`resume()` (SIGSTOP/SIGCONT) make a broker that
 * accepts bytes and never answers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificates } from '../../cli/commands/certs.js';
import { type Child, freePort, runProcess, spawnProcess, waitPort } from '../../loadtests/lib/processes.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export interface TlsMosquitto {
  /** The client-certificate listener. */
  port: number;
  url: string;
  /** The username/password listener (server-authenticated TLS only). */
  passwordUrl: string;
  username: string;
  password: string;
  caFile: string;
  /** A client certificate signed by the broker's CA (CN `tago-edge-test`) and its key. */
  certFile: string;
  keyFile: string;
  dir: string;
  /** Starts the broker again on the same ports (after `stop()`). */
  start(): Promise<void>;
  stop(): Promise<void>;
  pause(): void;
  resume(): void;
  /** Stops the broker and removes its directory (certificates included). */
  destroy(): Promise<void>;
}

export async function startTlsMosquitto(): Promise<TlsMosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'tago-edge-mosquitto-'));
  try {
    const pki = await createCertificates({ out: dir, hosts: ['127.0.0.1', 'localhost'], clients: ['tago-edge-test'] });
    const client = pki.clients[0] as { cert: string; key: string };
    const username = 'edge';
    const password = 'sas-token-stand-in';
    const passwords = join(dir, 'passwords');
    writeFileSync(passwords, '');
    await runProcess('mosquitto_passwd', ['mosquitto_passwd', '-b', passwords, username, password]);
    const port = await freePort();
    const passwordPort = await freePort();
    const tls = [`cafile ${pki.caCert}`, `certfile ${pki.serverCert}`, `keyfile ${pki.serverKey}`];
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        // Each listener has its own authentication (mosquitto 2: settings after a `listener` line apply to it).
        'per_listener_settings true',
        'persistence false',
        // Started as root, mosquitto would switch to the `mosquitto` user, who cannot read the 0600 keys here.
        'user root',
        'log_dest stderr',
        'log_type error',
        `listener ${port} 127.0.0.1`,
        ...tls,
        'require_certificate true',
        // The certificate is the identity: a certified client is not anonymous, one without a certificate
        // never gets past the handshake.
        'use_identity_as_username true',
        'allow_anonymous false',
        `listener ${passwordPort} 127.0.0.1`,
        ...tls,
        'allow_anonymous false',
        `password_file ${passwords}`,
        '',
      ].join('\n'),
    );
    let proc: Child | null = null;
    const broker: TlsMosquitto = {
      port,
      url: `mqtts://127.0.0.1:${port}`,
      passwordUrl: `mqtts://127.0.0.1:${passwordPort}`,
      username,
      password,
      caFile: pki.caCert,
      certFile: client.cert,
      keyFile: client.key,
      dir,
      async start() {
        if (proc) return;
        const p = spawnProcess('mosquitto', [MOSQUITTO, '-c', conf], { keepOutput: 8_000 });
        proc = p;
        try {
          await Promise.race([
            Promise.all([waitPort(port, 10_000), waitPort(passwordPort, 10_000)]),
            p.exit().then((code) => {
              throw new Error(`mosquitto exited ${code}: ${p.stderr()}`);
            }),
          ]);
        } catch (err) {
          proc = null;
          await p.kill();
          throw err;
        }
      },
      async stop() {
        const p = proc;
        proc = null;
        if (!p) return;
        p.child.kill('SIGCONT'); // a paused broker cannot act on SIGTERM
        await p.stop(2_000);
      },
      pause() {
        proc?.child.kill('SIGSTOP');
      },
      resume() {
        proc?.child.kill('SIGCONT');
      },
      async destroy() {
        await broker.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    await broker.start();
    return broker;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
