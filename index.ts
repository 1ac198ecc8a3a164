// Entry point: load the typed stack definition (every setting checked before any resource exists),
// compose the platform, export its outputs.
import { loadDefinition, readSecrets } from "./stack/definition";
import { deployPlatform } from "./stack/program";

const outputs = deployPlatform(loadDefinition(), readSecrets());

export = outputs;
