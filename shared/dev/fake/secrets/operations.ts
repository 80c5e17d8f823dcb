/** `secretsmanager.<Operation>`: parse the request, call the model, shape the reply. */
import { epochSeconds } from '../wire.js';
import type { Operation } from '../world.js';
import { parseCreateSecret, parseGetSecretValue, parsePutSecretValue, parseSecretId } from './requests.js';

export const secretsOperations: ReadonlyMap<string, Operation> = new Map<string, Operation>([
  [
    'CreateSecret',
    ({ partition }, input) => {
      const { secret, version } = partition.secrets.createSecret(parseCreateSecret(input));
      return { ARN: secret.arn, Name: secret.name, VersionId: version?.id };
    },
  ],
  [
    'PutSecretValue',
    ({ partition }, input) => {
      const { secret, version } = partition.secrets.putSecretValue(parsePutSecretValue(input));
      return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
    },
  ],
  [
    'GetSecretValue',
    ({ partition }, input) => {
      const { secret, version } = partition.secrets.getSecretValue(parseGetSecretValue(input));
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.id,
        ...version.value,
        VersionStages: [...version.stages],
        CreatedDate: epochSeconds(version.createdAt),
      };
    },
  ],
  ['DescribeSecret', ({ partition }, input) => partition.secrets.describeSecret(parseSecretId(input))],
]);
