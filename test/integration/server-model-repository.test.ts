// The model repository the server stack ships (components/model-service/server-repository.ts): the files it takes from the
// project's models/ folder, the generated config.pbtxt, and the script that installs them on the server,
// run here with bash (and shellcheck) in a temporary folder standing in for /var/lib/triton-platform/models.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterEach, describe, expect, it } from "vitest";
import { modelConfigPbtxt } from "../../components/model-service/model-config";
import { MAX_SHIPPED_BYTES, modelRepositoryScript, repositoryFiles, repositoryPayload } from "../../components/model-service/server-repository";
import { stackDefinition } from "../support/definitions";

const ROOT = path.resolve(__dirname, "../..");
const temps: string[] = [];
const temp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "model-repo-"));
    temps.push(d);
    return d;
};
afterEach(() => temps.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const models = () => stackDefinition("server").models;

describe("repositoryFiles", () => {
    it("takes each model's files from the source folder and generates its config.pbtxt from the definition", () => {
        const files = repositoryFiles(models(), path.join(ROOT, "models"));
        expect(files.map((f) => [f.path, f.mode])).toEqual([
            ["dialogue/config.pbtxt", "0644"],
            ["dialogue/1/model.py", "0644"],
        ]);
        expect(files[0].content.toString()).toBe(modelConfigPbtxt(models()[0], { gpu: false }));
        expect(files[1].content.equals(fs.readFileSync(path.join(ROOT, "models/dialogue/1/model.py")))).toBe(true);
    });

    it("ignores a config.pbtxt in the source folder (the definition is the one place for serving settings)", () => {
        const src = temp();
        fs.mkdirSync(path.join(src, "dialogue/1"), { recursive: true });
        fs.writeFileSync(path.join(src, "dialogue/config.pbtxt"), "max_batch_size: 1\n");
        fs.writeFileSync(path.join(src, "dialogue/1/model.py"), "pass\n");
        const files = repositoryFiles(models(), src);
        expect(files.filter((f) => f.path.endsWith("config.pbtxt")).map((f) => f.content.toString())).toEqual([modelConfigPbtxt(models()[0], { gpu: false })]);
    });

    it("refuses a missing model folder, a link and more than it can ship, naming the file", () => {
        const src = temp();
        expect(() => repositoryFiles(models(), src)).toThrow(/dialogue is not a folder; it must hold the files of model "dialogue"/);
        fs.mkdirSync(path.join(src, "dialogue/1"), { recursive: true });
        fs.symlinkSync("/etc/passwd", path.join(src, "dialogue/1/passwd"));
        expect(() => repositoryFiles(models(), src)).toThrow(/passwd is neither a file nor a folder/);
        fs.rmSync(path.join(src, "dialogue/1/passwd"));
        fs.writeFileSync(path.join(src, "dialogue/1/weights.bin"), Buffer.alloc(MAX_SHIPPED_BYTES + 1));
        expect(() => repositoryFiles(models(), src)).toThrow(/more than the 4194304 the program ships/);
    });
});

describe("modelRepositoryScript on a folder", () => {
    const run = (root: string, payload: string) => spawnSync("bash", ["-c", modelRepositoryScript(root)], { input: payload, encoding: "utf8" });

    it("passes shellcheck", () => {
        const file = path.join(temp(), "script.sh");
        fs.writeFileSync(file, modelRepositoryScript("/var/lib/triton-platform/models"));
        expect(execFileSync("shellcheck", ["-s", "bash", file], { encoding: "utf8" })).toBe("");
    });

    it("installs the files world-readable, is unchanged the second time, and removes a model folder the definition does not name", () => {
        const root = path.join(temp(), "models");
        fs.mkdirSync(path.join(root, "stale/1"), { recursive: true });
        const payload = repositoryPayload(repositoryFiles(models(), path.join(ROOT, "models")));
        const first = run(root, payload);
        expect(first.status, first.stderr).toBe(0);
        expect(first.stdout).toMatch(/written \(2 files; changed: dialogue -stale \(removed\)\)/);
        expect(fs.readFileSync(path.join(root, "dialogue/1/model.py"), "utf8")).toBe(fs.readFileSync(path.join(ROOT, "models/dialogue/1/model.py"), "utf8"));
        expect((fs.statSync(path.join(root, "dialogue/config.pbtxt")).mode & 0o777).toString(8)).toBe("644");
        expect(fs.readdirSync(root).sort()).toEqual(["dialogue"]);
        const second = run(root, payload);
        expect(second.status, second.stderr).toBe(0);
        expect(second.stdout).toMatch(/unchanged \(2 files\)/);
    });

    it("refuses an unsafe file name and an empty stdin, changing nothing", () => {
        const root = path.join(temp(), "models");
        const bad = run(root, `0644 ../escape ${Buffer.from("x").toString("base64")}\n`);
        expect(bad.status).not.toBe(0);
        expect(bad.stderr).toMatch(/refusing the file name '..\/escape'/);
        const empty = run(root, "");
        expect(empty.status).not.toBe(0);
        expect(empty.stderr).toMatch(/nothing arrived on stdin/);
        expect(fs.readdirSync(root)).toEqual([]);
    });
});
