// A port's gateway settings on the admin page, in Chromium against the built
// Worker in workerd: the page shows the settings saved through the API and
// the deployment's defaults, saves an edit (the actions at the caps too)
// over the version it showed, and shows the Worker's refusal of bad settings
// at the form, naming the field, with nothing saved; a feature's own actions
// shown, added and saved the same way.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSite } from "./server.mjs";
import { launch, newPage, signIn, openPort } from "./browser.mjs";

const PORT = "gw-page";
let site;
let browser;

before(async () => {
  site = await startSite();
  await site.api.setBudget(PORT, { enabled: true, softCapTokens: 800, hardCapTokens: 1000, period: "month" });
  const saved = await site.api.call("PUT", `/v1/ports/${PORT}/gateway`, {
    models: ["gpt-4.1*", "claude-*"],
    onSoftCap: { action: "downgrade", models: { "gpt-4.1": "gpt-4.1-mini" } },
  });
  assert.equal(saved.status, 200, saved.text);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.stop();
});

const loaded = (page) => page.waitForFunction(() => document.querySelector("#gw-defaults").textContent !== "");
const value = (page, selector) => page.$eval(selector, (el) => el.value);

test("the page shows the port's saved gateway settings and the deployment's defaults", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, PORT);
  await loaded(page);
  assert.equal(await value(page, "#gw-models"), "gpt-4.1*, claude-*");
  assert.equal(await value(page, "#gw-soft-action"), "downgrade");
  assert.equal(await value(page, "#gw-soft-models"), "gpt-4.1=gpt-4.1-mini");
  assert.equal(await value(page, "#gw-hard-action"), "");
  assert.equal(await value(page, "#gw-strict"), "");
  assert.match(await page.textContent("#gw-defaults"), /strict on, output bound 4096, any model/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("an edit is saved whole over the version shown, and a throttle at the soft cap reaches the API", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, PORT);
  await loaded(page);
  await page.selectOption("#gw-soft-action", "throttle");
  await page.fill("#gw-soft-rate", "12");
  await page.selectOption("#gw-hard-action", "downgrade");
  await page.fill("#gw-hard-models", "claude-sonnet-*=claude-haiku-4-5");
  await page.fill("#gw-max-tokens", "300");
  await page.click("#save-gateway");
  await page.waitForFunction(() => /saved/.test(document.querySelector("#gw-status").textContent));
  const saved = (await site.api.call("GET", `/v1/ports/${PORT}/gateway`)).json;
  assert.deepEqual(saved.onSoftCap, { action: "throttle", callsPerMinute: 12 });
  assert.deepEqual(saved.onHardCap, { action: "downgrade", models: { "claude-sonnet-*": "claude-haiku-4-5" } });
  assert.equal(saved.defaultMaxTokens, 300);
  assert.deepEqual(saved.models, ["gpt-4.1*", "claude-*"]);
  // Saved elsewhere meanwhile: the page's version is stale, nothing is saved.
  await site.api.call("PUT", `/v1/ports/${PORT}/gateway`, { ...saved, port: undefined, updatedAt: undefined, updatedBy: undefined, defaults: undefined, defaultMaxTokens: 301 });
  await page.fill("#gw-max-tokens", "302");
  await page.click("#save-gateway");
  await page.waitForFunction(() => /changed since/.test(document.querySelector("#gw-error").textContent));
  assert.equal((await site.api.call("GET", `/v1/ports/${PORT}/gateway`)).json.defaultMaxTokens, 301);
  await page.context().close();
});

test("the Worker's refusal of bad settings is shown at the form, naming the field, and nothing is saved", async () => {
  const before = (await site.api.call("GET", `/v1/ports/${PORT}/gateway`)).json;
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, PORT);
  await loaded(page);
  await page.selectOption("#gw-soft-action", "throttle");
  await page.fill("#gw-soft-rate", "-5");
  await page.click("#save-gateway");
  await page.waitForFunction(() => document.querySelector("#gw-error").textContent !== "");
  assert.match(await page.textContent("#gw-error"), /^onSoftCap\.callsPerMinute: /);
  await page.selectOption("#gw-soft-action", "downgrade");
  await page.fill("#gw-soft-models", "gpt-4.1=o3");
  await page.click("#save-gateway");
  await page.waitForFunction(() => /onSoftCap\.models\.gpt-4\.1/.test(document.querySelector("#gw-error").textContent));
  const after = (await site.api.call("GET", `/v1/ports/${PORT}/gateway`)).json;
  assert.equal(after.updatedAt, before.updatedAt, "nothing was saved");
  await page.context().close();
});

test("a feature's own actions are shown, one added is saved with them, and a bad one is refused naming its field", async () => {
  const put = await site.api.call("PUT", `/v1/ports/${PORT}/gateway`, {
    onSoftCap: { action: "refuse" },
    features: { chat: { onSoftCap: { action: "throttle", callsPerMinute: 4 } } },
  });
  assert.equal(put.status, 200, put.text);
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, PORT);
  await loaded(page);
  assert.equal(await value(page, "#gw-feature-0"), "chat");
  assert.equal(await value(page, "#gw-f0-soft-action"), "throttle");
  assert.equal(await value(page, "#gw-f0-soft-rate"), "4");
  assert.equal(await value(page, "#gw-f0-hard-action"), "");
  assert.equal(await value(page, "#gw-soft-action"), "refuse", "the port's own action beside it");
  await page.click("#gw-add-feature");
  await page.fill("#gw-feature-1", "search");
  await page.selectOption("#gw-f1-soft-action", "downgrade");
  await page.fill("#gw-f1-soft-models", "gpt-4.1=gpt-4.1-mini");
  await page.selectOption("#gw-f1-hard-action", "refuse");
  await page.click("#save-gateway");
  await page.waitForFunction(() => /saved/.test(document.querySelector("#gw-status").textContent));
  const saved = (await site.api.call("GET", `/v1/ports/${PORT}/gateway`)).json;
  assert.deepEqual(saved.features, {
    chat: { onSoftCap: { action: "throttle", callsPerMinute: 4 } },
    search: { onSoftCap: { action: "downgrade", models: { "gpt-4.1": "gpt-4.1-mini" } }, onHardCap: { action: "refuse" } },
  });
  assert.deepEqual(saved.onSoftCap, { action: "refuse" });
  // A negative rate for chat: refused at the form, naming chat's field.
  await page.fill("#gw-f0-soft-rate", "-1");
  await page.click("#save-gateway");
  await page.waitForFunction(() => document.querySelector("#gw-error").textContent !== "");
  assert.match(await page.textContent("#gw-error"), /^features\.chat\.onSoftCap\.callsPerMinute: /);
  const after = (await site.api.call("GET", `/v1/ports/${PORT}/gateway`)).json;
  assert.equal(after.updatedAt, saved.updatedAt, "nothing was saved");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
