// What serverless.yml takes from shared/on-call/pages.ts (`custom.onCall`). The Serverless Framework
// loads .js and .cjs files only, so this loads the TypeScript module with tsx.
const { require: requireTypeScript } = require('tsx/cjs/api');

const { onCallValues } = requireTypeScript('./pages.ts', __filename);

module.exports = async ({ resolveVariable }) =>
  onCallValues({
    stage: await resolveVariable('sls:stage'),
    chatTopicArn: await resolveVariable('self:custom.onCallChatTopicArn'),
    pagerDutyRoutingKeySecret: await resolveVariable('self:custom.pagerDutyRoutingKeySecret'),
  });
