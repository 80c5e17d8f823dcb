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
      return { ARN: secret.arn, Name: secret.name, VersionId: version.id, ...stagesOf(version) };
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
        ...stagesOf(version),
        CreatedDate: epochSeconds(version.createdAt),
      };
    },
  ],
  ['DescribeSecret', ({ partition }, input) => partition.secrets.describeSecret(parseSecretId(input))],
  [
    'ListSecretVersionIds',
    ({ partition }, input) => {
      const secret = partition.secrets.describeSecret(parseSecretId(input));
      // Versions without a staging label are deprecated, and listed only when IncludeDeprecated asks (which the fake does not take).
      const versions = [...secret.versions.values()].filter((version) => version.stages.size > 0);
      return {
        ARN: secret.arn,
        Name: secret.name,
        Versions: versions.map((version) => ({ VersionId: version.id, ...stagesOf(version), CreatedDate: epochSeconds(version.createdAt) })),
      };
    },
  ],
]);

/** `VersionStages` holds at least one label: a version without any (deprecated) is answered without the member. */
function stagesOf(version: { stages: ReadonlySet<string> }): { VersionStages?: string[] } {
  return version.stages.size > 0 ? { VersionStages: [...version.stages] } : {};
}
