import { describe, expect, it } from 'vitest';
import * as fake from '../../shared/dev/fake/kms/enums.js';
import * as domain from '../../shared/domain/types.js';

describe("the fake's own KMS enumerations", () => {
  it.each(['CONNECTION_STATES', 'STORE_TYPES', 'CONNECTION_ERROR_CODES', 'XKS_CONNECTIVITY'] as const)(
    '%s equals the product list, value for value and in order',
    (name) => {
      // biome-ignore lint/performance/noDynamicNamespaceImportAccess: a test, never bundled; the names are the point
      expect(fake[name]).toEqual(domain[name]);
    },
  );
});
