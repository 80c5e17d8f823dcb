/** The unit tests' in-memory twin of the table keeps the same contract as the DynamoDB adapter. */

import { InMemoryState } from '../helpers/in-memory.js';
import { describeStatePort } from '../helpers/state-contract.js';

describeStatePort('InMemoryState', async () => new InMemoryState());
