/**
 * What the Lambda bundles use in place of `@aws-sdk/credential-provider-node` (an esbuild alias in
 * serverless.yml): Lambda hands a function its role's credentials in the environment, so the SDK's
 * default chain (profiles, SSO, web identity, instance metadata, each with clients of its own) is
 * code a function never runs. Member-account credentials come from STS AssumeRole, given explicitly.
 * The CLI and the local tools keep the SDK's whole chain.
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';

export const defaultProvider = (): ReturnType<typeof fromEnv> => fromEnv();
