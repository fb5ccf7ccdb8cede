/**
 * The part of the xk6-mqtt extension (github.com/pmalhaire/xk6-mqtt) these suites use; @types/k6 does not
 * ship it. Build k6 with it: `xk6 build --with github.com/pmalhaire/xk6-mqtt`.
 */
declare module 'k6/x/mqtt' {
  export class Client {
    constructor(
      servers: string[],
      user: string,
      password: string,
      cleanSession: boolean,
      clientId: string,
      connectTimeoutMs: number,
      caRootPath?: string,
      clientCertPath?: string,
      clientCertKeyPath?: string,
    );
    connect(): void;
    isConnected(): boolean;
    /** Blocks until the broker acknowledges (QoS 1: the PUBACK) or the timeout passes; throws on failure. */
    publish(topic: string, qos: 0 | 1 | 2, message: string, retain: boolean, timeoutMs: number): void;
    close(timeoutMs: number): void;
  }
}
