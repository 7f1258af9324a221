// tel:/sip: links and ?call= of the web client (webclient/js/pwa.js), with node:test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { numberFromLink } from "../../../webclient/js/pwa.js";

test("tel: links give the number the dialler takes", () => {
  assert.equal(numberFromLink("tel:+34-91-555-0101"), "+34915550101");
  assert.equal(numberFromLink("tel:+34 (91) 555.01.01;phone-context=example.com"),
    "+34915550101");
  assert.equal(numberFromLink("TEL:1002"), "1002");
  assert.equal(numberFromLink("tel:*43%23"), "*43#");
  assert.equal(numberFromLink("callto://915550101"), "915550101");
  assert.equal(numberFromLink("915 550 101"), "915550101");
});

test("sip: addresses are kept as addresses", () => {
  assert.equal(numberFromLink("sip:1002@webfon"), "sip:1002@webfon");
  assert.equal(numberFromLink("sips:ana@example.com?subject=x"), "sips:ana@example.com");
  assert.equal(numberFromLink("sip:1002"), "sip:1002");
});

test("anything else is refused", () => {
  for (const bad of ["", "javascript:alert(1)", "tel:", "tel:abc", "tel:12<script>",
    "sip:a b@c", "sip:<x>@y", "http://example.com/?a=1", "1".repeat(40),
    `sip:${"a".repeat(200)}@x`, "data:text/html,hi"]) {
    assert.equal(numberFromLink(bad), "", bad);
  }
});
