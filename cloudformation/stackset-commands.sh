# cks-reconciler member accounts with a service-managed StackSet, run from the repository's root in the
# management account (or a delegated administrator). The docs include this file verbatim, and
# test/integration/stackset-commands.test.ts runs each command with the AWS CLI.

# The parameters: copy the example, then set your central account and Region, the central stack's
# outputs WorkerRoleArn, OnEventRoleArn and OnChangeRoleArn (the write role trusts these only), who may
# assume the read-only role (your operators' account id or role ARNs), your organization id and the
# fleet's Regions in it.
cp cloudformation/member-role-params.example.json member-role-params.json

# The StackSet: the member role and the read-only role in RoleRegion, the event forwarding rule in every other Region.
aws cloudformation create-stack-set --stack-set-name cks-reconciler-member \
  --template-body file://cloudformation/member-role.yml --capabilities CAPABILITY_NAMED_IAM \
  --permission-model SERVICE_MANAGED --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false \
  --parameters file://member-role-params.json

# Its stacks: in the organizational units' accounts, in every Region of FleetRegions.
aws cloudformation create-stack-instances --stack-set-name cks-reconciler-member \
  --deployment-targets OrganizationalUnitIds=ou-abcd-12345678 --regions us-east-1 eu-west-1
