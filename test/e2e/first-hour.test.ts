// A new user's first hour, on the real engine, through the README's own commands (scripts/dev.sh behind
// `npm run up`, scripts/env.sh behind `npm run pulumi` and `npm run token`, scripts/stack-init.sh behind
// `npm run stack:init`) in a fresh copy of the repository with no backend, no passphrase and no stack.
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO_ROOT = path.resolve(__dirname, "../..");
/** What a clone holds that these commands read (node_modules is linked, not copied). */
const CHECKOUT = ["Pulumi.yaml", "Pulumi.dev.yaml", "package.json", "package-lock.json", "tsconfig.json", "main.js", "index.ts", "stack", "components", "kit", "services", "scripts", "tools"];

interface Run {
    code: number;
    stdout: string;
    stderr: string;
}

/** A fresh checkout in a temporary folder: the README's commands run in it as they would in a clone. */
class Checkout {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "triton-first-hour-"));

    constructor() {
        // The checkout links this repository's node_modules; scripts/dev.sh would run `npm ci` through that
        // link (emptying it under every other test) if they were not installed from this lock file.
        const stamp = path.join(REPO_ROOT, "node_modules/.installed-from-lock");
        const lockHash = crypto.createHash("sha256").update(fs.readFileSync(path.join(REPO_ROOT, "package-lock.json"))).digest("hex");
        if (!fs.existsSync(stamp) || fs.readFileSync(stamp, "utf8").trim() !== lockHash) {
            throw new Error("node_modules were not installed from package-lock.json by scripts/lib.sh: run `npm test` (or `bash scripts/dev.sh preview`) first");
        }
        for (const entry of CHECKOUT) {
            fs.cpSync(path.join(REPO_ROOT, entry), path.join(this.dir, entry), { recursive: true });
        }
        // A clone never holds this machine's salt: a local `npm run up` adds it to the tracked stack file.
        for (const file of fs.readdirSync(this.dir).filter((f) => /^Pulumi\..+\.yaml$/.test(f))) {
            const full = path.join(this.dir, file);
            fs.writeFileSync(full, fs.readFileSync(full, "utf8").replace(/^encryptionsalt:.*\n?/m, ""));
        }
        fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(this.dir, "node_modules"), "dir");
    }

    /** Runs a command as `npm run` would: the checkout as working folder, node_modules/.bin on PATH. */
    run(command: string, args: string[], extraEnv: Record<string, string> = {}): Run {
        const env: Record<string, string | undefined> = { ...process.env, ...extraEnv };
        // A new user has none of these: the scripts must choose the backend and passphrase themselves.
        for (const name of ["PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_ACCESS_TOKEN"]) {
            if (!(name in extraEnv)) delete env[name];
        }
        env.PATH = `${path.join(this.dir, "node_modules/.bin")}:${env.PATH}`;
        const vendor = path.resolve(REPO_ROOT, "../shared/vendor");
        if (fs.existsSync(vendor) && !env.TOOLCHAIN_VENDOR) env.TOOLCHAIN_VENDOR = vendor;
        const r = spawnSync(command, args, { cwd: this.dir, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60_000 });
        return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
    }

    file(name: string): string {
        return fs.readFileSync(path.join(this.dir, name), "utf8");
    }

    write(name: string, text: string): void {
        fs.writeFileSync(path.join(this.dir, name), text);
    }

    cleanup(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

const count = (text: string, needle: RegExp) => (text.match(new RegExp(needle.source, `${needle.flags}g`)) ?? []).length;

describe("a new user's first hour", () => {
    let checkout: Checkout;
    let firstUp: Run;

    beforeAll(() => {
        checkout = new Checkout();
        firstUp = checkout.run("bash", ["scripts/dev.sh", "up"]);
    });
    afterAll(() => {
        // Leave nothing behind: destroy the dev stack's rendered files with the checkout.
        checkout?.cleanup();
    });

    it("`npm run up` creates the dev stack on a local backend and prints its outputs once", () => {
        expect(firstUp.code, firstUp.stderr).toBe(0);
        expect(firstUp.stderr).toContain("created a random passphrase for this machine's dev stack");
        expect(fs.existsSync(path.join(checkout.dir, ".pulumi-state/passphrase"))).toBe(true);
        expect(count(firstUp.stdout, /^Outputs/m)).toBe(1);
        expect(firstUp.stdout).toMatch(/activeSlot\s+blue/);
    });

    it("warns about plain-text Secrets in the rendered manifests once per run, not once per resource", () => {
        const secrets = fs
            .readdirSync(path.join(checkout.dir, "out/manifests/dev/1-manifest"))
            .filter((f) => /secret/i.test(f));
        expect(secrets.length).toBeGreaterThan(1);
        const output = firstUp.stdout + firstUp.stderr;
        expect(count(output, /plain ?text/i)).toBe(1);
        expect(output).toMatch(/warning: render mode wrote the stack's Secrets to out\/manifests\/dev in PLAIN TEXT \(\d+ provider warnings folded into this one\)/);
        // Folding hides only those warnings: every Secret's progress line is still there.
        expect(firstUp.stdout).toMatch(/kubernetes:core\/v1:Secret gateway-jwt created/);
    });

    it("`npm run pulumi -- stack output` works without knowing the backend or the passphrase", () => {
        const r = checkout.run("bash", ["scripts/env.sh", "pulumi", "stack", "output", "--json", "--stack", "dev"]);
        expect(r.stderr).not.toContain("PULUMI_ACCESS_TOKEN");
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ activeSlot: "blue", environment: "dev" });
    });

    it("`npm run token -- --stack dev` mints a token from the stack's secret, and --verify accepts it", () => {
        const mint = checkout.run("bash", ["scripts/env.sh", "ts-node", "--transpile-only", "scripts/token.ts", "--stack", "dev"]);
        expect(mint.code, mint.stderr).toBe(0);
        const token = mint.stdout.trim();
        expect(token.split(".")).toHaveLength(3);
        const verify = checkout.run("bash", ["scripts/env.sh", "ts-node", "--transpile-only", "scripts/token.ts", "--stack", "dev", "--verify", token]);
        expect(verify.code, verify.stderr).toBe(0);
    });

    it("`eval \"$(bash scripts/env.sh --print)\"` gives a shell the same environment, without printing a passphrase", () => {
        const r = checkout.run("bash", ["-c", 'eval "$(bash scripts/env.sh --print)" && pulumi stack ls --json']);
        expect(r.code, r.stderr).toBe(0);
        expect((JSON.parse(r.stdout) as { name: string }[]).map((s) => s.name)).toContain("dev");
        const printed = checkout.run("bash", ["scripts/env.sh", "--print"], { PULUMI_CONFIG_PASSPHRASE: "do-not-print-me" });
        expect(printed.stdout).toContain("PULUMI_BACKEND_URL=");
        expect(printed.stdout).not.toContain("do-not-print-me");
    });

    it("a failed `up` shows the error and what changed, not the previous outputs as if they were current", () => {
        const stackFile = checkout.file("Pulumi.dev.yaml");
        // A bad setting: the run fails before any resource changes.
        checkout.write("Pulumi.dev.yaml", stackFile.replace("activeSlot: blue", "activeSlot: purple"));
        const failed = checkout.run("bash", ["scripts/dev.sh", "up"]);
        checkout.write("Pulumi.dev.yaml", stackFile);
        expect(failed.code).not.toBe(0);
        expect(failed.stdout + failed.stderr).toContain("triton-platform:activeSlot");
        expect(failed.stdout).not.toMatch(/^Outputs/m);
        expect(failed.stderr).toContain("pulumi up FAILED");
        expect(failed.stderr).toContain("still describe the previous deployment");
        // The cause fixed, the next `up` converges and prints the outputs again.
        const again = checkout.run("bash", ["scripts/dev.sh", "up"]);
        expect(again.code, again.stderr).toBe(0);
        expect(again.stdout).toMatch(/^Outputs/m);
    });

    it("`npm run stack:init` creates a stack and keeps the stack file's comments and settings", () => {
        const text = ["# staging: a comment a user wrote, which `pulumi stack init` alone would drop", "config:", "  # and one inside", "  triton-platform:namespace: triton-staging", ""].join("\n");
        checkout.write("Pulumi.staging.yaml", text);
        const r = checkout.run("bash", ["scripts/env.sh", "bash", "scripts/stack-init.sh", "staging"]);
        expect(r.code, r.stderr).toBe(0);
        const after = checkout.file("Pulumi.staging.yaml");
        expect(after).toMatch(/^encryptionsalt: /m);
        expect(after.replace(/^encryptionsalt: .*\n/m, "")).toBe(text);
        const again = checkout.run("bash", ["scripts/env.sh", "bash", "scripts/stack-init.sh", "staging"]);
        expect(again.code).not.toBe(0);
        expect(again.stderr).toContain("already holds a data key");
    });

    it("`npm run stack:init` restores the stack file untouched when the secrets provider cannot be used", () => {
        // A KMS that cannot be reached (Vault's transit engine on a closed loopback port): init fails.
        const text = ["# prod-like: the KMS line must survive", "secretsprovider: hashivault://triton-platform", "config:", "  triton-platform:namespace: triton-kms", ""].join("\n");
        checkout.write("Pulumi.kms.yaml", text);
        const r = checkout.run("bash", ["scripts/env.sh", "bash", "scripts/stack-init.sh", "kms"], { VAULT_ADDR: "http://127.0.0.1:9", VAULT_TOKEN: "none" });
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain("Pulumi.kms.yaml is unchanged");
        expect(checkout.file("Pulumi.kms.yaml")).toBe(text);
    });

    it("a salt left by a dev stack that is gone (deleted .pulumi-state) is dropped, not an 'incorrect passphrase'", () => {
        const stackFile = checkout.file("Pulumi.dev.yaml");
        expect(stackFile).toMatch(/^encryptionsalt: /m); // the first `up` wrote this machine's salt
        fs.renameSync(path.join(checkout.dir, ".pulumi-state"), path.join(checkout.dir, ".pulumi-state.kept"));
        try {
            // With a secure value in the file the salt matters: the script stops and says what to do.
            checkout.write("Pulumi.dev.yaml", stackFile.replace(/^config:\n/m, "config:\n  triton-platform:extra:\n    secure: v1:abc:def\n"));
            const refused = checkout.run("bash", ["scripts/dev.sh", "preview"]);
            expect(refused.code).not.toBe(0);
            expect(refused.stderr).toContain("restore that .pulumi-state folder, or delete the encryptionsalt line");
            // Without one, the stale salt is dropped and a new stack is created.
            checkout.write("Pulumi.dev.yaml", stackFile);
            const r = checkout.run("bash", ["scripts/dev.sh", "preview"]);
            expect(r.code, r.stderr).toBe(0);
            expect(r.stderr).toContain("removed a stale encryptionsalt from Pulumi.dev.yaml");
            expect(r.stderr).not.toContain("incorrect passphrase");
        } finally {
            fs.rmSync(path.join(checkout.dir, ".pulumi-state"), { recursive: true, force: true });
            fs.renameSync(path.join(checkout.dir, ".pulumi-state.kept"), path.join(checkout.dir, ".pulumi-state"));
            checkout.write("Pulumi.dev.yaml", stackFile);
        }
    });

    it("`npm run destroy` removes what `up` rendered", () => {
        const r = checkout.run("bash", ["scripts/dev.sh", "destroy"]);
        expect(r.code, r.stderr).toBe(0);
        const left = execFileSync("find", [path.join(checkout.dir, "out/manifests/dev"), "-name", "*.yaml"], { encoding: "utf8" }).trim();
        expect(left).toBe("");
    });
});
