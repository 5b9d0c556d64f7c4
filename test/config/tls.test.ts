import t from "tap";
import { ConfigError, loadConfig, resolveConfig } from "../../src/config/index.js";
import { makeTestPki } from "../fixtures/tls.js";

const pki = makeTestPki(t);

function problems(argv: string[], env: Record<string, string> = {}): string[] {
  try {
    loadConfig(argv, env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

t.test("without --tls-cert and --tls-key the daemon serves cleartext", async (t) => {
  const config = loadConfig([], {});
  t.equal(config.tlsCert, undefined);
  t.equal(config.tlsKey, undefined);
});

t.test("a readable matching pair is accepted from flags, env or typed options, as paths", async (t) => {
  const fromFlags = loadConfig(["--tls-cert", pki.first.certPath, "--tls-key", pki.first.keyPath], {});
  t.same([fromFlags.tlsCert, fromFlags.tlsKey], [pki.first.certPath, pki.first.keyPath]);
  const fromEnv = loadConfig([], { TLS_CERT_FILE: pki.first.certPath, TLS_KEY_FILE: pki.first.keyPath });
  t.same([fromEnv.tlsCert, fromEnv.tlsKey], [pki.first.certPath, pki.first.keyPath]);
  const typed = resolveConfig({ tlsCert: pki.second.certPath, tlsKey: pki.second.keyPath });
  t.same([typed.tlsCert, typed.tlsKey], [pki.second.certPath, pki.second.keyPath]);
});

t.test("one without the other is an error naming the missing one", async (t) => {
  t.same(problems(["--tls-cert", pki.first.certPath]), [
    "--tls-cert (TLS_CERT_FILE) is set but --tls-key (TLS_KEY_FILE) is not: TLS needs both the certificate chain and its private key (or neither, for cleartext)",
  ]);
  t.same(problems([], { TLS_KEY_FILE: pki.first.keyPath }), [
    "--tls-key (TLS_KEY_FILE) is set but --tls-cert (TLS_CERT_FILE) is not: TLS needs both the certificate chain and its private key (or neither, for cleartext)",
  ]);
});

t.test("unreadable, non-PEM and mismatched files are config errors that say what is wrong", async (t) => {
  t.same(problems(["--tls-cert", `${pki.dir}/missing.pem`, "--tls-key", pki.first.keyPath]), [
    `--tls-cert/--tls-key: cannot read the certificate file ${pki.dir}/missing.pem (ENOENT)`,
  ]);
  t.match(problems(["--tls-cert", pki.junkPath, "--tls-key", pki.first.keyPath]), [/^--tls-cert\/--tls-key: .*junk\.pem is not a PEM certificate/]);
  t.match(problems(["--tls-cert", pki.first.certPath, "--tls-key", pki.second.keyPath]), [/^--tls-cert\/--tls-key: the private key in .*second\.key does not belong to the certificate in .*first\.pem/]);
});

t.test("TLS problems are reported together with the others", async (t) => {
  const all = problems(["--port", "x", "--tls-cert", pki.junkPath, "--tls-key", pki.first.keyPath]);
  t.equal(all.length, 2);
  t.match(all[0], /--port/);
  t.match(all[1], /not a PEM certificate/);
});

t.test("the files are read through the config's io, like the key files", async (t) => {
  const read: string[] = [];
  const config = loadConfig(["--tls-cert", "c.pem", "--tls-key", "k.pem"], {}, {
    readFile: (path) => {
      read.push(path);
      return path === "c.pem" ? pki.first.cert : pki.first.key;
    },
  });
  t.same(read, ["c.pem", "k.pem"]);
  t.equal(config.tlsCert, "c.pem");
});
