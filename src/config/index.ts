export { ConfigError, loadConfig, resolveConfig, type Env, type ResolveOptions } from "./load.js";
export { optionHelpLines, optionsMarkdown } from "./help.js";
export { LOG_LEVELS, OPTIONS, optionRows } from "./options.js";
export type { Config, ConfigInput, LogLevel, OptionGroup, OptionKey, OptionSpec } from "./options.js";
export { clip, type ConfigIo, type RateSetting } from "./parsers.js";
