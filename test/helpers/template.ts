/**
 * A packaged CloudFormation template reduced to its meaning, for comparing two packages: object keys
 * sorted, and the one thing that changes on every `serverless package` without changing what is
 * deployed, the artifacts' S3 keys (`serverless/<service>/<stage>/<timestamp>/<function>.zip`),
 * reduced to the artifact's file name.
 */
import { basename } from 'node:path';

export function normalizeTemplate(value: unknown, key?: string): unknown {
  if (key === 'S3Key' && typeof value === 'string') return basename(value);
  if (Array.isArray(value)) return value.map((item) => normalizeTemplate(item));
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((name) => [name, normalizeTemplate((value as Record<string, unknown>)[name], name)]),
  );
}
