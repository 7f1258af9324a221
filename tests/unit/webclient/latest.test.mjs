// Overlapping loads of a view (webclient/js/dom.js `latest`), with node:test: only the latest
// load's answer or error comes through, whatever order the answers arrive in.
import { test } from "node:test";
import assert from "node:assert/strict";
import { latest } from "../../../webclient/js/dom.js";

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

test("an older answer arriving last does not replace the newer one", async () => {
  const latestLoad = latest();
  const shown = [];
  const first = deferred();
  const second = deferred();
  const load = async (fetching) => { shown.push(await latestLoad(fetching)); };
  load(first.promise);
  load(second.promise);
  second.resolve("new list");
  await tick();
  first.resolve("old list");
  await tick();
  assert.deepEqual(shown, ["new list"]);
});

test("an older load's error is not shown over the newer answer; the latest error is", async () => {
  const latestLoad = latest();
  const shown = [];
  const load = async (fetching) => {
    try {
      shown.push(await latestLoad(fetching));
    } catch (err) {
      shown.push(`error: ${err.message}`);
    }
  };
  const first = deferred();
  const second = deferred();
  load(first.promise);
  load(second.promise);
  first.reject(new Error("timed out"));
  second.resolve("list");
  await tick();
  assert.deepEqual(shown, ["list"]);
  await load(Promise.reject(new Error("forbidden")));
  assert.deepEqual(shown, ["list", "error: forbidden"]);
});

test("each view's loads are counted apart", async () => {
  const a = latest();
  const b = latest();
  const [x, y] = await Promise.all([a(Promise.resolve(1)), b(Promise.resolve(2))]);
  assert.deepEqual([x, y], [1, 2]);
});
