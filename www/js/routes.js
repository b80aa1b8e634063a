// Hash routes: `#/` is the overview, `#/ports/<id>` one port. The port id is
// encoded (it is user data); the token never goes in the URL.

/** The link to a port's page. */
export function portHref(port) {
  return `#/ports/${encodeURIComponent(port)}`;
}

/** Which view the current hash asks for: `{ view: "overview" }` or `{ view: "port", port }`. */
export function currentRoute(hash = location.hash) {
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
