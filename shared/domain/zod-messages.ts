/**
 * zod's `mini` build, which the domain's schemas use (a fraction of the classic build's size in a
 * Lambda bundle), carries no messages: every message a schema does not set itself would read
 * "Invalid input", for subscribers validating events too. Imported by each module with schemas, this
 * sets the English messages that classic zod sets by default.
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());
