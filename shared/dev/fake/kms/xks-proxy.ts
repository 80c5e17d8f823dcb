/**
 * External key store proxies: the customer-run servers an external key store talks to. They are
 * outside AWS, so only the admin API creates and changes them; KMS consults them on
 * Create/Update (synchronous checks) and when a connect attempt ends.
 */
import { fingerprint } from '../random.js';

export class XksProxy {
  constructor(
    /** `https://host`, the key the proxy is found by. */
    readonly uriEndpoint: string,
    public uriPath: string,
    public accessKeyId: string,
    public secretAccessKey: string,
    public reachable: boolean,
    /**
     * Set when the proxy is reachable through a VPC endpoint service of this name (whose private
     * DNS name is `uriEndpoint`); absent for a proxy on a public endpoint.
     */
    public vpcEndpointServiceName?: string,
  ) {}

  acceptsCredential(accessKeyId: string, secretAccessKey: string): boolean {
    return accessKeyId === this.accessKeyId && secretAccessKey === this.secretAccessKey;
  }

  toState(): object {
    return {
      uriEndpoint: this.uriEndpoint,
      uriPath: this.uriPath,
      accessKeyId: fingerprint(this.accessKeyId),
      secretAccessKey: fingerprint(this.secretAccessKey),
      reachable: this.reachable,
      vpcEndpointServiceName: this.vpcEndpointServiceName,
    };
  }
}
