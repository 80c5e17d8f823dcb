import 'aws-sdk-client-mock-vitest/extend';

// The SDK warns on every client that it will need Node 22 from 2027; the suite runs on Node 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
