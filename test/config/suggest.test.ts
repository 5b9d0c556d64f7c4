import t from "tap";
import { closest, didYouMean, editDistance } from "../../src/config/suggest.js";

t.test("editDistance counts insertions, deletions, substitutions and swapped neighbours", async (t) => {
  t.equal(editDistance("", ""), 0);
  t.equal(editDistance("abc", ""), 3);
  t.equal(editDistance("", "abc"), 3);
  t.equal(editDistance("register", "register"), 0);
  t.equal(editDistance("regster", "register"), 1, "a missing letter");
  t.equal(editDistance("registerr", "register"), 1, "an extra letter");
  t.equal(editDistance("rogister", "register"), 1, "a wrong letter");
  t.equal(editDistance("regsiter", "register"), 1, "two letters swapped");
  t.equal(editDistance("kitten", "sitting"), 3);
});

t.test("closest picks the nearest candidate within a third of the word's length, at most 3", async (t) => {
  const commands = ["lookup", "register", "agent", "token", "health", "wait"];
  t.equal(closest("regster", commands), "register");
  t.equal(closest("lokup", commands), "lookup");
  t.equal(closest("HEALTH", commands), "health", "case does not count");
  t.equal(closest("wiat", commands), "wait");
  t.equal(closest("frobnicate", commands), undefined, "nothing close");
  t.equal(closest("xy", commands), undefined);
  t.equal(closest("--prot", ["--port", "--host"]), "--port");
  t.equal(closest("tokens", ["token", "tokens"]), "tokens", "an exact match beats a near one");
  t.equal(closest("abcd", ["abcx", "abxx"]), "abcx", "the nearer of two");
});

t.test("didYouMean phrases the suggestion, or says nothing", async (t) => {
  t.equal(didYouMean("regster", ["register"]), "; did you mean register?");
  t.equal(didYouMean("zzz", ["register"]), "");
});
