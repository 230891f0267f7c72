/** Reading one server's Prometheus text in tests. */

/** The value of an unlabelled metric `name` on the server at `url`, NaN when absent. */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text)
  return m ? Number(m[1]) : Number.NaN
}
