// A budget's unit on the page: a cap status counts tokens or dollars
// (`unit: "usd"`, amounts in decimal dollars), and every number of it is
// read and written through the one reader here.
import { tokens, usd } from "./dom.js";

/** A token amount with its unit: `1,234 tokens`, `unlimited tokens`. */
export const tokenAmount = (n) => `${tokens(n)} tokens`;

/**
 * The amounts of a cap status (the API's or the package's) in its unit:
 * `used`, `soft`, `hard`, `remaining` (Infinity: unlimited) and `format(n)`.
 */
export function amounts(cs) {
  return cs.unit === "usd"
    ? { unit: "usd", used: cs.usedUsd, soft: cs.softCapUsd, hard: cs.hardCapUsd, remaining: cs.remainingUsd ?? Infinity, format: usd }
    : { unit: "tokens", used: cs.usedTokens, soft: cs.softCapTokens, hard: cs.hardCapTokens, remaining: cs.remaining ?? Infinity, format: tokenAmount };
}

/** A budget's caps in its unit, with their format (a budget as the API shows it). */
export function budgetCaps(budget) {
  return budget.unit === "usd"
    ? { unit: "usd", soft: budget.softCapUsd, hard: budget.hardCapUsd, format: usd }
    : { unit: "tokens", soft: budget.softCapTokens, hard: budget.hardCapTokens, format: tokenAmount };
}

/** The core budget's fields of a budget as the API shows it (the package reads exactly these; a calendar is added apart). */
export function coreBudget(b) {
  return {
    enabled: b.enabled,
    softCapTokens: b.softCapTokens,
    hardCapTokens: b.hardCapTokens,
    period: b.period,
    unit: b.unit ?? "tokens",
    softCapUsd: b.softCapUsd ?? null,
    hardCapUsd: b.hardCapUsd ?? null,
    fallbackPrice: b.fallbackPrice ?? null,
  };
}
