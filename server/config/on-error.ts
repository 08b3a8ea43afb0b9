/**
 * What the process does when configuration or boot fails. Outside containers it exits 78 (EX_CONFIG). In the
 * Docker image (PIXBIN_ON_CONFIG_ERROR=wait) exiting would only make the restart policy loop, printing the same
 * line forever; instead it stays up answering 503 with the message, shows as unhealthy, and stops on SIGTERM.
 */
export type OnConfigError = { mode: 'exit' | 'wait'; port: number; host: string };

export function onConfigError(env: Record<string, string | undefined> = process.env): OnConfigError {
  const port = Number(env.PORT);
  return {
    mode: env.PIXBIN_ON_CONFIG_ERROR === 'wait' ? 'wait' : 'exit',
    port: Number.isInteger(port) && port > 0 && port < 65536 ? port : 3000,
    host: env.HOST?.trim() || '0.0.0.0',
  };
}
