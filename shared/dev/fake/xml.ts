/** XML for the query-protocol services (STS, CloudWatch): elements, escaped text, error bodies. */
import { type AwsError, queryCodeOf } from './errors.js';
import * as random from './random.js';

/** An element holding other elements. */
export function element(name: string, content: string): string {
  return `<${name}>${content}</${name}>`;
}

/** An element holding text. */
export function leaf(name: string, value: string): string {
  return element(name, value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
}

/** The `<ErrorResponse>` body of a query-protocol error. */
export function errorResponse(xmlns: string, error: AwsError): string {
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  return (
    `<ErrorResponse xmlns="${xmlns}">` +
    element('Error', leaf('Type', type) + leaf('Code', queryCodeOf(error)) + leaf('Message', error.message)) +
    leaf('RequestId', random.uuid()) +
    '</ErrorResponse>'
  );
}
