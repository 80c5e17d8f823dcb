/** Why dist/cli cannot be run (not built, or older than a project file it was built from); undefined when up to date. */
export function staleBundle(): string | undefined;
/** Builds dist/cli from shared/cli/main.ts, replacing what was there. */
export function buildCli(): Promise<void>;
