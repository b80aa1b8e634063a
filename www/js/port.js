// One port: its standing, the budget editor and call check (budget.js),
// caps inside the port (caps.js), alerts, gateway settings (gateway.js),
// charts, recent ledger rows, holds, keys and the port's history of changes
// (history.js).
import { h, replace, tokens, usd, percent, time, badge, table } from "./dom.js";
import { banner, stat } from "./standing.js";
import { budgetEditor } from "./budget.js";
import { resetTime } from "./calendar.js";
import { capsSection } from "./caps.js";
import { keysSection } from "./keys.js";
import { historySection } from "./history.js";
import { alertsSection } from "./alerts.js";
import { gatewaySection } from "./gateway.js";
import { creditsSection } from "./credits.js";
import { dailyChart, breakdownChart } from "./charts.js";
import { amounts, budgetCaps } from "./units.js";
import { forecastCard } from "./forecast.js";

/**
 * Renders the page of `port` from its `GET .../status` answer. `rules` is the
 * loaded package; `reload(message)` fetches the status again and re-renders.
 */
export function renderPort(root, port, status, rules, { reload, onError, flash }) {
  const editor = budgetEditor(port, status, rules, { reload, onError, flash });
  const cs = status.capStatus;
  const u = status.usage;
  const a = amounts(cs);
  const caps = budgetCaps(status.budget);
  const inUsd = caps.unit === "usd";
  replace(
    root,
    h(
      "article",
      { "aria-labelledby": "port-title" },
      h("p", {}, h("a", { href: "#/", class: "back" }, "← All ports")),
      h(
        "div",
        { class: "title-row" },
        h("h1", { id: "port-title", tabindex: "-1" }, h("span", { class: "visually-hidden" }, "Port "), h("span", { id: "port-id" }, port)),
        badge(cs.state),
        h("button", { type: "button", class: "secondary", onclick: () => reload() }, "Refresh"),
      ),
      banner(cs, "banner"),
      // The ledger of record (D1) trails the gate only while D1 fails.
      status.pendingLedgerRows > 0
        ? h(
            "p",
            { class: "banner banner-soft", id: "ledger-pending", role: "status" },
            `${tokens(status.pendingLedgerRows)} ledger ${status.pendingLedgerRows === 1 ? "row is" : "rows are"} still on their way to the ledger of record: the gate counts ${status.pendingLedgerRows === 1 ? "it" : "them"}, the breakdown, chart and ledger below do not show ${status.pendingLedgerRows === 1 ? "it" : "them"} yet.`,
          )
        : null,
      // Rows D1 refused for good: set aside, never holding up the others.
      status.setAsideLedgerRows > 0
        ? h(
            "p",
            { class: "banner banner-hard", id: "ledger-set-aside", role: "alert" },
            `${tokens(status.setAsideLedgerRows)} ledger ${status.setAsideLedgerRows === 1 ? "row was" : "rows were"} refused by the ledger of record and set aside (the gate still counts ${status.setAsideLedgerRows === 1 ? "it" : "them"}): `,
            status.setAside.map((r) => `${r.requestId} (${r.reason})`).join("; "),
          )
        : null,
      h(
        "dl",
        { class: "stats", id: "summary" },
        stat("Counted by the gate", "gateTokens", tokens(u.gateTokens)),
        stat("Used (ledger)", "usedTokens", tokens(u.usedTokens)),
        stat("Calls", "calls", tokens(u.calls)),
        stat("Held by reservations", "heldTokens", tokens(u.heldTokens)),
        stat("Of which estimated", "expiredHoldTokens", tokens(u.expiredHoldTokens)),
        stat("Cost (ledger)", "usedUsd", usd(u.usedUsd)),
        inUsd ? stat("Counted by the gate in dollars", "gateUsd", usd(u.gateUsd)) : null,
        inUsd ? stat("Held in dollars", "heldUsd", usd(u.heldUsd)) : null,
        stat("Remaining", "remaining", inUsd ? usd(a.remaining) : tokens(a.remaining)),
        stat("Soft cap", inUsd ? "softCapUsd" : "softCapTokens", inUsd ? (caps.soft === null ? "none" : usd(caps.soft)) : tokens(caps.soft)),
        stat("Hard cap", inUsd ? "hardCapUsd" : "hardCapTokens", inUsd ? usd(caps.hard) : tokens(caps.hard)),
        stat("Period", "period", status.period),
        stat("Resets", "resetsAt", resetTime(status.resetsAt, status.budget.timeZone ?? "UTC")),
        stat("Last change", "updatedAt", status.budget.updatedAt ? [time(status.budget.updatedAt), ` by ${status.budget.updatedBy ?? "?"}`] : "never (defaults)"),
      ),
      forecastCard(status, rules),
      editor.cards,
      capsSection(port, status, rules, { reload, onError }),
      creditsSection(port, status, rules, { onError }),
      alertsSection(port, { onError }),
      gatewaySection(port, { onError }),
      h(
        "section",
        { class: "card", "aria-labelledby": "daily-title" },
        h("h2", { id: "daily-title" }, "Usage this period, per day"),
        status.daily.some((d) => d.tokens > 0)
          ? [
              dailyChart(status.daily, {
                softCap: caps.soft,
                hardCap: caps.hard,
                effectiveCap: status.room.effectiveCap,
                enabled: status.budget.enabled,
                projected: status.forecast?.basis === "period-average" ? status.forecast.projectedUsed : null,
                ...(inUsd ? { value: (d) => d.costUsd ?? 0, format: usd } : {}),
              }),
              h("p", { class: "legend muted small" }, h("span", { class: "key-day" }), inUsd ? " dollars per day " : " tokens per day ", h("span", { class: "key-total" }), " running total ", status.budget.enabled ? "against the caps (dashed)" : ""),
            ]
          : h("p", { class: "empty" }, "No usage recorded in this period yet."),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "features-title" },
        h("h2", { id: "features-title" }, "Per feature"),
        status.breakdown.length ? breakdownChart(status.breakdown) : null,
        h(
          "div",
          { id: "breakdown" },
          table(
            "Tokens and calls per feature this period",
            [
              ["Feature", (b) => b.feature],
              ["Tokens", (b) => tokens(b.tokens), true],
              ["Calls", (b) => tokens(b.calls), true],
              ["Cost", (b) => usd(b.costUsd), true],
              ["Share", (b) => percent(u.usedTokens ? (100 * b.tokens) / u.usedTokens : 0), true],
            ],
            status.breakdown,
            "No feature has used tokens this period.",
          ),
        ),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "ledger-title" },
        h("h2", { id: "ledger-title" }, "Recent ledger rows"),
        h(
          "div",
          { id: "ledger" },
          table(
            "The newest ledger rows",
            [
              ["When", (r) => time(r.createdAt)],
              ["Feature", (r) => r.feature],
              ["User", (r) => r.userId ?? ""],
              ["Provider", (r) => r.provider],
              ["Model", (r) => r.model],
              ["Input", (r) => tokens(r.inputTokens), true],
              ["Output", (r) => tokens(r.outputTokens), true],
              ["Total", (r) => tokens(r.totalTokens), true],
              ["Cost", (r) => usd(r.costUsd), true],
              ["Request id", (r) => h("code", {}, r.requestId ?? "")],
            ],
            status.recentLedger,
            "The ledger has no rows for this port.",
          ),
        ),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "holds-title" },
        h("h2", { id: "holds-title" }, "Reservations in flight"),
        h(
          "div",
          { id: "reservations" },
          table(
            "Open and expired-unsettled reservations",
            [
              ["Id", (r) => h("code", {}, r.id)],
              ["Feature", (r) => r.feature],
              ["Estimate", (r) => tokens(r.estimatedTokens), true],
              ["In dollars", (r) => (r.estimatedUsd === null || r.estimatedUsd === undefined ? "" : usd(r.estimatedUsd)), true],
              ["State", (r) => r.state],
              ["Taken", (r) => time(r.createdAt)],
              ["Expires", (r) => time(r.expiresAt)],
            ],
            status.reservations,
            "No reservation is held.",
          ),
        ),
      ),
      keysSection(port, status, { onError }),
      historySection(port, { onError }),
    ),
  );
  editor.recompute();
  return { focus: () => root.querySelector("h1").focus() };
}
