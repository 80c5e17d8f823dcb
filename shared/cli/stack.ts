/**
 * What `cks` knows of a stack `serverless deploy --stage <stage>` created: its names follow the rule
 * in serverless.yml (`${self:service}-${sls:stage}-...`), so they are derived here, never looked up.
 */
import { ConfigError } from '../errors.js';

/** `service:` in serverless.yml. */
const SERVICE = 'cks-reconciler';

/** serverless.yml's `secretPrefix` param default (`custom.secretPrefix`). */
export const DEFAULT_SECRET_PREFIX = 'cks/';

/** The names of a deployed stack's table and event bus (where its on-call rules listen). */
export interface StackNames {
  stage: string;
  table: string;
  eventBus: string;
}

/** The deployed stack of `stage` (`--stage` or `CKS_STAGE`); a stage serverless would not accept is an error. */
export function stackNames(stage: string): StackNames {
  if (!/^[a-zA-Z0-9-]+$/.test(stage)) throw new ConfigError(`--stage must be letters, digits and hyphens (as serverless accepts), got "${stage}"`);
  return { stage, table: `${SERVICE}-${stage}-stores`, eventBus: `${SERVICE}-${stage}` };
}
