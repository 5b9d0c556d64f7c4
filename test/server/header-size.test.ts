import t from "tap";
import { headerListSize } from "../../src/server/header-size.js";

t.test("name and value octets plus 32 per field (RFC 9113 6.5.2)", async (t) => {
  t.equal(headerListSize([]), 0);
  t.equal(headerListSize(["host", "x", "content-type", "application/json"]), 4 + 1 + 12 + 16 + 64);
});
