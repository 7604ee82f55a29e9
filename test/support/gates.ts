import { env } from "cloudflare:workers";

/** Report one reliability gate's figure; the global teardown prints every gate line at the end of the run. */
export async function reportGate(name: string, figure: string): Promise<void> {
  const res = await fetch(`${env.TARGET_URL}/_gates`, {
    method: "POST",
    body: JSON.stringify({ line: `${name}: ${figure}` }),
  });
  await res.body?.cancel();
}
