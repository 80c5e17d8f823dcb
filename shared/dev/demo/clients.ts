/**
 * Fixed credentials for the demo's callers. The session token names the caller's IAM role: the fake
 * reports it in CloudTrail events as `arn:aws:iam::000000000000:role/<token>`, which is how the
 * on-event rules tell the reconciler's own calls (its roles' logical ids in `serverless.yml`) from
 * everybody else's.
 */
import type { StaticCredentials } from '../../adapters/clients.js';

export function demoCredentials(roleName: string): StaticCredentials {
  return { accessKeyId: 'demo', secretAccessKey: 'demo', sessionToken: roleName };
}
