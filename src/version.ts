/** The daemon's version, reported by Health, `/health` and `--version`; kept equal to package.json by a test. */
export const VERSION = "0.1.0";
