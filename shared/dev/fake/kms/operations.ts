/** `TrentService.<Operation>`: parse the request, call the model, shape the reply. */
import { RawJson } from '../wire.js';
import type { Operation } from '../world.js';
import type { CustomKeyStore } from './model.js';
import { parseCreate, parseCreateKey, parseDescribe, parseEncrypt, parseGenerateRandom, parseKeyId, parseStoreId, parseUpdate } from './requests.js';

/** An operation without output members: AWS answers `{}`. */
function noOutput(run: (...args: Parameters<Operation>) => void): Operation {
  return (call, input) => {
    run(call, input);
    return {};
  };
}

export const kmsOperations: ReadonlyMap<string, Operation> = new Map<string, Operation>([
  ['CreateCustomKeyStore', ({ partition }, input) => ({ CustomKeyStoreId: partition.kms.createCustomKeyStore(parseCreate(input)).id })],
  [
    'DescribeCustomKeyStores',
    ({ partition }, input) => {
      const { stores, nextMarker } = partition.kms.describeCustomKeyStores(parseDescribe(input));
      return page(stores, nextMarker);
    },
  ],
  ['ConnectCustomKeyStore', noOutput(({ partition }, input) => partition.kms.connectCustomKeyStore(parseStoreId(input)))],
  ['DisconnectCustomKeyStore', noOutput(({ partition }, input) => partition.kms.disconnectCustomKeyStore(parseStoreId(input)))],
  ['UpdateCustomKeyStore', noOutput(({ partition }, input) => partition.kms.updateCustomKeyStore(parseUpdate(input)))],
  [
    'DeleteCustomKeyStore',
    noOutput(({ partition }, input) =>
      partition.kms.deleteCustomKeyStore(parseStoreId(input), (storeId) => partition.keys.all().some((key) => key.customKeyStoreId === storeId)),
    ),
  ],
  ['GenerateRandom', ({ partition }, input) => ({ Plaintext: partition.kms.generateRandom(parseGenerateRandom(input)).toString('base64') })],
  ['CreateKey', ({ partition }, input) => ({ KeyMetadata: partition.keys.describeKey(partition.keys.createKey(parseCreateKey(input)).id) })],
  ['DescribeKey', ({ partition }, input) => ({ KeyMetadata: partition.keys.describeKey(parseKeyId(input)) })],
  [
    'Encrypt',
    ({ partition }, input) => {
      const { key, ciphertext } = partition.keys.encrypt(parseEncrypt(input));
      return { CiphertextBlob: ciphertext.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
  ],
]);

const PAGE_HEAD = Buffer.from('{"CustomKeyStores":[');
const COMMA = Buffer.from(',');

/** One DescribeCustomKeyStores page, assembled from the stores' cached JSON bytes. */
function page(stores: readonly CustomKeyStore[], nextMarker: string | undefined): RawJson {
  const parts: Buffer[] = [PAGE_HEAD];
  stores.forEach((store, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(store.json());
  });
  const tail = nextMarker === undefined ? '"Truncated":false' : `"NextMarker":${JSON.stringify(nextMarker)},"Truncated":true`;
  parts.push(Buffer.from(`],${tail}}`));
  return new RawJson(parts);
}
