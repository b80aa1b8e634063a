// Hash routes: `#/` is the overview, `#/ports/<id>` one port, `#/prices` the
// price table. The port id is
// encoded (it is user data); the token never goes in the URL.

/** The link to a port's page. */
export function portHref(port) {
  return `#/ports/${encodeURIComponent(port)}`;
}

/** The link to the price table. */
export const PRICES_HREF = "#/prices";

/** Which view the current hash asks for: `{ view: "overview" }`, `{ view: "prices" }` or `{ view: "port", port }`. */
export function currentRoute(hash = location.hash) {
  if (hash === PRICES_HREF) return { view: "prices" };
  const m = /^#\/ports\/([^/]+)$/.exec(hash);
  if (m) {
    try {
      return { view: "port", port: decodeURIComponent(m[1]) };
    } catch {
      return { view: "overview" };
    }
  }
  return { view: "overview" };
}
