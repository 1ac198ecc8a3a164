// Finds and runs promtool (Debian package `prometheus`, see scripts/apt-packages.txt). Tests that need it
// fail with an install hint when it is missing: they are never skipped.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** Where promtool is looked for: $PROMTOOL, then /usr/bin/promtool, then every PATH entry. */
export function findPromtool(env: NodeJS.ProcessEnv = process.env): string | undefined {
    const candidates = [env.PROMTOOL, "/usr/bin/promtool", ...(env.PATH ?? "").split(path.delimiter).map((d) => d && path.join(d, "promtool"))];
    for (const c of candidates) {
        if (c && isExecutable(c)) {
            return c;
        }
    }
    return undefined;
}

function isExecutable(file: string): boolean {
    try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
    } catch {
        return false;
    }
}

/** promtool's path, or an error that says how to install it. */
export function requirePromtool(): string {
    const found = findPromtool();
    if (!found) {
        throw new Error(
            "promtool not found: install the Debian package `prometheus` (apt-get install --no-install-recommends prometheus; " +
                "it is listed in scripts/apt-packages.txt) or set PROMTOOL to its path",
        );
    }
    return found;
}

/** The result of one promtool run. */
export interface PromtoolResult {
    code: number;
    stdout: string;
    stderr: string;
    /** stdout and stderr together, for assertion messages. */
    output: string;
}

/** Runs promtool with arguments in a folder (rule and test files are resolved relative to it). */
export function runPromtool(args: string[], cwd: string): PromtoolResult {
    const r = spawnSync(requirePromtool(), args, { cwd, encoding: "utf8", timeout: 120_000 });
    if (r.error) {
        throw r.error;
    }
    const stdout = r.stdout ?? "";
    const stderr = r.stderr ?? "";
    return { code: r.status ?? -1, stdout, stderr, output: `${stdout}${stderr}` };
}
