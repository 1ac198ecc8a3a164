// End-to-end support: runs the real Pulumi engine (CLI, Node.js language host, providers) against a
// throwaway copy of this project, with a temporary file backend and passphrase, through the Automation
// API. The copy keeps the repository clean (stack init writes an encryption salt into the stack file,
// render mode writes manifests) and lets each test file have its own state.
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const REPO_ROOT = path.resolve(__dirname, "../../..");

/** Files and folders of the program that a stack run needs. */
const PROGRAM_FILES = ["Pulumi.yaml", "package.json", "tsconfig.json", "main.js", "index.ts", "tools/ts-loader.js", "stack", "components", "kit", "services", "policies", "models"];

/** A throwaway copy of the project with its own backend. */
export interface Sandbox {
    dir: string;
    backend: string;
    env: Record<string, string>;
    cleanup(): void;
}

/** The environment that makes the CLI run offline: toolchain paths, no update checks, no downloads. */
export function toolchainEnv(): Record<string, string> {
    // Let the shell evaluate the export lines exactly as a user's `eval` would, then read the result.
    const script = `eval "$(bash '${path.join(REPO_ROOT, "scripts/toolchain.sh")}' --print-env)" && env -0`;
    const out = execFileSync("bash", ["-c", script], { encoding: "utf8" });
    const env: Record<string, string> = {};
    for (const entry of out.split("\0")) {
        const i = entry.indexOf("=");
        if (i > 0 && (entry.startsWith("PULUMI_") || entry.startsWith("PATH="))) {
            env[entry.slice(0, i)] = entry.slice(i + 1);
        }
    }
    return env;
}

/**
 * Copies the program into a temporary folder (node_modules linked, not copied) with the given stack
 * files. `stackFiles` maps a stack name to the YAML text of its Pulumi.<stack>.yaml.
 */
export function makeSandbox(stackFiles: Record<string, string>): Sandbox {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "triton-e2e-"));
    for (const entry of PROGRAM_FILES) {
        fs.cpSync(path.join(REPO_ROOT, entry), path.join(dir, entry), { recursive: true });
    }
    fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
    for (const [stack, text] of Object.entries(stackFiles)) {
        fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), text);
    }
    const backend = path.join(dir, ".state");
    fs.mkdirSync(backend);
    const base = toolchainEnv();
    const env: Record<string, string> = {
        ...base,
        PATH: base.PATH ?? process.env.PATH ?? "",
        PULUMI_BACKEND_URL: `file://${backend}`,
        PULUMI_CONFIG_PASSPHRASE: "e2e-only-passphrase",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    };
    return {
        dir,
        backend,
        env,
        cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}

/** The repository's stack file text, optionally transformed (e.g. to drop a KMS secrets provider). */
export function repoStackFile(stack: string, edit: (text: string) => string = (t) => t): string {
    // A local `npm run up` adds this machine's encryptionsalt; a sandbox has its own passphrase.
    const text = fs.readFileSync(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`), "utf8").replace(/^encryptionsalt:.*\n?/m, "");
    return edit(text);
}

/** Opens (creating if needed) a stack of the sandbox through the Automation API. */
export async function openStack(sandbox: Sandbox, stackName: string): Promise<Stack> {
    const pulumiCommand = await PulumiCommand.get({ skipVersionCheck: true });
    const ws = await LocalWorkspace.create({
        workDir: sandbox.dir,
        envVars: sandbox.env,
        pulumiCommand,
        secretsProvider: "passphrase",
    });
    return Stack.createOrSelect(stackName, ws);
}

/** Runs the pulumi CLI in the sandbox; returns exit code and output instead of throwing. */
export function cli(sandbox: Sandbox, args: string[], extraEnv: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
    try {
        const stdout = execFileSync("pulumi", args, {
            cwd: sandbox.dir,
            env: { ...process.env, ...sandbox.env, ...extraEnv },
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
            maxBuffer: 64 * 1024 * 1024,
        });
        return { code: 0, stdout, stderr: "" };
    } catch (e) {
        const err = e as { status?: number; stdout?: string; stderr?: string };
        return { code: err.status ?? 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
    }
}

/** Every file under a folder, relative paths, sorted. */
export function listFiles(dir: string): string[] {
    if (!fs.existsSync(dir)) {
        return [];
    }
    const out: string[] = [];
    const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) {
                walk(p);
            } else {
                out.push(path.relative(dir, p));
            }
        }
    };
    walk(dir);
    return out.sort();
}
