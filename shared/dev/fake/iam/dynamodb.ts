/**
 * What IAM evaluates for a DynamoDB call: the table (or index) ARN, and the condition keys DynamoDB
 * sets — `dynamodb:LeadingKeys` (the partition key values the request touches: an item's key, a
 * Query's key condition, every key of a batch), `dynamodb:Attributes` (the attribute names it
 * writes or projects), `dynamodb:ReturnValues` and `dynamodb:Select`. A transaction is authorized
 * item by item, each as its own action (`TransactWriteItems` → `dynamodb:PutItem`, …), as in AWS.
 */
import type { Scope } from '../context.js';
import type { AuthRequest } from './authorize.js';

type Fields = Record<string, unknown>;
type AttributeValue = Record<string, unknown>;

/** The partition key attribute name of a table, or of one of its indexes; undefined when unknown. */
export type HashKeyOf = (tableName: string, indexName?: string) => Promise<string | undefined>;

const object = (value: unknown): Fields => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : {});
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The table's ARN (a TableName may itself be an ARN). */
export function tableArn(scope: Scope, tableName: string): string {
  return tableName.startsWith('arn:') ? tableName : `arn:aws:dynamodb:${scope.region}:${scope.accountId}:table/${tableName}`;
}

/** A key value as `dynamodb:LeadingKeys` holds it: the string of an S, N or B value. */
function keyValue(value: unknown): string | undefined {
  const typed = object(value) as AttributeValue;
  return text(typed.S) ?? text(typed.N) ?? text(typed.B);
}

/** Words of an expression that are not attribute names. */
const EXPRESSION_WORDS = new Set([
  'set',
  'remove',
  'add',
  'delete',
  'and',
  'or',
  'not',
  'between',
  'in',
  'if_not_exists',
  'list_append',
  'attribute_exists',
  'attribute_not_exists',
  'attribute_type',
  'begins_with',
  'contains',
  'size',
]);

/** The top-level attribute names an expression names (`#n` resolved through ExpressionAttributeNames). */
function expressionAttributes(expression: string | undefined, names: Fields): string[] {
  if (expression === undefined) return [];
  const found = new Set<string>();
  for (const [token] of expression.matchAll(/[#:]?[A-Za-z_][\w]*/g)) {
    if (token.startsWith(':')) continue;
    const name = token.startsWith('#') ? text(names[token]) : EXPRESSION_WORDS.has(token.toLowerCase()) ? undefined : token;
    if (name !== undefined) found.add(name);
  }
  return [...found];
}

/** The partition key value a Query's key condition fixes (`pk = :v`, `#pk = :v`, or legacy KeyConditions). */
function queryLeadingKey(input: Fields, hashKey: string): string | undefined {
  const legacy = object(object(input.KeyConditions)[hashKey]);
  if (Array.isArray(legacy.AttributeValueList)) return keyValue(legacy.AttributeValueList[0]);
  const expression = text(input.KeyConditionExpression);
  if (expression === undefined) return undefined;
  const names = object(input.ExpressionAttributeNames);
  const values = object(input.ExpressionAttributeValues);
  for (const [, left, right] of expression.matchAll(/([#:]?[\w]+)\s*=\s*([#:]?[\w]+)/g)) {
    const [name, value] = left?.startsWith(':') ? [right, left] : [left, right];
    const attribute = name?.startsWith('#') ? text(names[name]) : name;
    if (attribute === hashKey && value?.startsWith(':')) return keyValue(values[value]);
  }
  return undefined;
}

function leadingKeys(keys: readonly Fields[], hashKey: string | undefined): string[] | undefined {
  if (hashKey === undefined) return undefined;
  return [...new Set(keys.flatMap((key) => keyValue(key[hashKey]) ?? []))];
}

function context(entries: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(entries).filter((entry): entry is [string, string | string[]] => entry[1] !== undefined));
}

/** One single-item action (GetItem, PutItem, UpdateItem, DeleteItem, ConditionCheckItem). */
async function itemRequest(action: string, item: Fields, scope: Scope, hashKeyOf: HashKeyOf): Promise<AuthRequest> {
  const table = text(item.TableName) ?? '';
  const key = object(item.Key ?? item.Item);
  const names = object(item.ExpressionAttributeNames);
  const attributes =
    item.Item !== undefined
      ? Object.keys(object(item.Item))
      : action === 'dynamodb:UpdateItem'
        ? [
            ...new Set([
              ...Object.keys(key),
              ...expressionAttributes(text(item.UpdateExpression), names),
              ...Object.keys(object(item.AttributeUpdates)),
            ]),
          ]
        : expressionAttributes(text(item.ProjectionExpression), names);
  return {
    action,
    resource: tableArn(scope, table),
    resourceAccount: scope.accountId,
    context: context({
      'dynamodb:LeadingKeys': leadingKeys([key], await hashKeyOf(table)),
      'dynamodb:Attributes': attributes.length > 0 ? attributes : undefined,
      'dynamodb:ReturnValues': text(item.ReturnValues),
    }),
  };
}

/** Batch calls: one request per table, with the leading keys of every item of that table. */
async function batchRequests(action: string, requestItems: Fields, scope: Scope, hashKeyOf: HashKeyOf): Promise<AuthRequest[]> {
  return Promise.all(
    Object.entries(requestItems).map(async ([table, items]) => {
      const keys = Array.isArray(items)
        ? items.map((write) => object(object(object(write).PutRequest).Item ?? object(object(write).DeleteRequest).Key))
        : ((object(items).Keys as Fields[] | undefined) ?? []);
      return {
        action,
        resource: tableArn(scope, table),
        resourceAccount: scope.accountId,
        context: context({ 'dynamodb:LeadingKeys': leadingKeys(keys, await hashKeyOf(table)) }),
      };
    }),
  );
}

const TRANSACT_ACTIONS: Readonly<Record<string, string>> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
  Get: 'dynamodb:GetItem',
};

/** The requests to authorize for one DynamoDB call. */
export async function dynamoRequests(operation: string, input: Fields, scope: Scope, hashKeyOf: HashKeyOf): Promise<AuthRequest[]> {
  const action = `dynamodb:${operation}`;
  switch (operation) {
    case 'GetItem':
    case 'PutItem':
    case 'UpdateItem':
    case 'DeleteItem':
      return [await itemRequest(action, input, scope, hashKeyOf)];
    case 'Query':
    case 'Scan': {
      const table = text(input.TableName) ?? '';
      const index = text(input.IndexName);
      const hashKey = operation === 'Query' ? await hashKeyOf(table, index) : undefined;
      const leading = hashKey === undefined ? undefined : queryLeadingKey(input, hashKey);
      const projected = expressionAttributes(text(input.ProjectionExpression), object(input.ExpressionAttributeNames));
      return [
        {
          action,
          resource: `${tableArn(scope, table)}${index === undefined ? '' : `/index/${index}`}`,
          resourceAccount: scope.accountId,
          context: context({
            'dynamodb:LeadingKeys': leading === undefined ? undefined : [leading],
            'dynamodb:Attributes': projected.length > 0 ? projected : undefined,
            'dynamodb:Select': text(input.Select),
          }),
        },
      ];
    }
    case 'BatchGetItem':
    case 'BatchWriteItem':
      return batchRequests(action, object(input.RequestItems), scope, hashKeyOf);
    case 'TransactWriteItems':
    case 'TransactGetItems': {
      const items = Array.isArray(input.TransactItems) ? (input.TransactItems as unknown[]) : [];
      return Promise.all(
        items.flatMap((item) =>
          Object.entries(object(item)).flatMap(([kind, member]) => {
            const itemAction = TRANSACT_ACTIONS[kind];
            return itemAction === undefined ? [] : [itemRequest(itemAction, object(member), scope, hashKeyOf)];
          }),
        ),
      );
    }
    default: {
      const table = text(input.TableName);
      const resourceArn = text(input.ResourceArn);
      const resource = resourceArn ?? (table === undefined ? '*' : tableArn(scope, table));
      return [{ action, resource, resourceAccount: scope.accountId }];
    }
  }
}
