/**
 * Global setup of the projects whose tests run under the stack's own policies: reads the stack's
 * resources (`serverless print`, tens of seconds when not cached) once, before any worker starts, so
 * that parallel test files find them cached instead of each starting its own `serverless print`.
 */
import { stackTemplate } from '../../shared/dev/iam/stack.js';

export default async function setup(): Promise<void> {
  await stackTemplate();
}
