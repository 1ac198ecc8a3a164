// The project's own shell scripts (the README's commands, CI) are linted like the scripts the program
// sends to servers: a quoting bug here breaks a fresh machine's first run.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";

const root = path.resolve(__dirname, "../..");
const scripts = [
    ...fs.readdirSync(path.join(root, "scripts")).filter((f) => f.endsWith(".sh")).map((f) => `scripts/${f}`),
    ".ci/run",
];

describe("repository shell scripts", () => {
    it("include the README's commands and CI", () => {
        expect(scripts).toEqual(expect.arrayContaining(["scripts/dev.sh", "scripts/test.sh", "scripts/toolchain.sh", ".ci/run"]));
    });

    it.each(scripts)("%s parses (bash -n) and passes shellcheck", (script) => {
        execFileSync("bash", ["-n", path.join(root, script)]);
        const lint = (() => {
            try {
                execFileSync("shellcheck", ["-x", "-P", "SCRIPTDIR", path.join(root, script)], { cwd: root, encoding: "utf8" });
                return "";
            } catch (e) {
                return (e as { stdout?: string }).stdout ?? String(e);
            }
        })();
        expect(lint).toBe("");
    });
});
