// `npm run -s token`: mints an R10 JWT signed with the stack's JWT secret, or verifies one (`--verify`),
// for platform admins testing a collaboration-platform integration.
//
//   npm run -s token -- [--stack <stack>] [--subject <sub>] [--scope chat:write,metrics:read]
//   npm run -s token -- --verify <token> [--stack <stack>]
//   pulumi stack export --show-secrets --stack dev | npm run -s token -- --export -
//
// The JWT secret is not a stack output (R5: no secret outputs). The script reads the stack's state with
// `pulumi stack export --show-secrets`, whose output goes into this process's memory through a pipe, never
// to the terminal or a file; it keeps the Keys component's JWT secret and claims and drops the rest.
// Run with ts-node (`ts-node --transpile-only scripts/token.ts`); jose is ESM-only and loads through
// Node's require(esm) (Node >= 20.19).
import { spawn } from "child_process";
import * as fs from "fs";
import { KeyClaims, mintToken, TokenError, verifyToken } from "../components/keys";

/** Signature Pulumi puts on secret values in state and exports. */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Command-line options. */
export interface TokenOptions {
    stack?: string;
    subject?: string;
    scope?: string[];
    /** A token to verify instead of minting one. */
    verify?: string;
    /** Read the export from this file (`-`: stdin) instead of running `pulumi stack export`. */
    exportFile?: string;
    /** Name of the Keys component in the program. @default "keys" */
    keysName: string;
}

/** Parses the command line; throws a usage error. */
export function parseArgs(argv: string[]): TokenOptions {
    const opts: TokenOptions = { keysName: "keys" };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = (): string => {
            const v = argv[++i];
            if (v === undefined || (v.startsWith("--") && v.length > 2)) {
                throw new Error(`${flag} needs a value`);
            }
            return v;
        };
        switch (flag) {
            case "--stack":
            case "-s":
                opts.stack = value();
                break;
            case "--subject":
                opts.subject = value();
                break;
            case "--scope":
                opts.scope = value().split(",").map((s) => s.trim()).filter(Boolean);
                break;
            case "--verify":
                opts.verify = value();
                break;
            case "--export":
                opts.exportFile = value();
                break;
            case "--keys-name":
                opts.keysName = value();
                break;
            default:
                throw new Error(`unknown option ${flag}`);
        }
    }
    return opts;
}

function decodeSecret(value: unknown, what: string): unknown {
    if (value !== null && typeof value === "object" && (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG) {
        const v = value as Record<string, unknown>;
        if (typeof v.plaintext === "string") {
            try {
                return JSON.parse(v.plaintext);
            } catch {
                return v.plaintext;
            }
        }
        if ("value" in v) {
            return v.value;
        }
        throw new Error(`${what} is encrypted in the export: run \`pulumi stack export --show-secrets\``);
    }
    return value;
}

interface ExportedResource {
    urn: string;
    type: string;
    outputs?: Record<string, unknown>;
}

/**
 * Finds the JWT secret and the claims of a Keys component in a `pulumi stack export --show-secrets`
 * document. Error messages never include a secret value.
 */
export function secretsFromExport(doc: unknown, keysName = "keys"): { jwtSecret: string; claims: KeyClaims } {
    const resources = ((doc as { deployment?: { resources?: ExportedResource[] } })?.deployment?.resources ?? []) as ExportedResource[];
    if (resources.length === 0) {
        throw new Error("the export has no resources: has `pulumi up` run for this stack?");
    }
    const jwt = resources.find((r) => r.type === "random:index/randomPassword:RandomPassword" && r.urn.endsWith(`::${keysName}-jwt-secret`));
    if (!jwt) {
        throw new Error(`no ${keysName}-jwt-secret in the stack: is it a triton-platform stack, and is the Keys component named "${keysName}"?`);
    }
    const secret = decodeSecret(jwt.outputs?.result, "the JWT secret");
    if (typeof secret !== "string" || secret.length === 0) {
        throw new Error("the JWT secret in the export is empty or not a string");
    }
    const component = resources.find((r) => r.type === "triton-platform:keys:Keys" && r.urn.endsWith(`::${keysName}`));
    const stack = resources.find((r) => r.type === "pulumi:pulumi:Stack");
    const claims = (component?.outputs?.claims ?? stack?.outputs?.jwtClaims) as KeyClaims | undefined;
    if (!claims || typeof claims.iss !== "string" || typeof claims.aud !== "string" || !Array.isArray(claims.scope)) {
        throw new Error("no JWT claims in the export (Keys component outputs or the jwtClaims stack output)");
    }
    return { jwtSecret: secret, claims };
}

/** Runs `pulumi stack export --show-secrets` and returns its output, kept in memory. */
export function runStackExport(stack?: string, pulumiCommand = process.env.PULUMI_COMMAND ?? "pulumi"): Promise<string> {
    return new Promise((resolve, reject) => {
        const args = ["stack", "export", "--show-secrets", ...(stack ? ["--stack", stack] : [])];
        const child = spawn(pulumiCommand, args, { stdio: ["ignore", "pipe", "inherit"] });
        const chunks: Buffer[] = [];
        child.stdout.on("data", (c: Buffer) => chunks.push(c));
        child.on("error", (e) => reject(new Error(`could not run ${pulumiCommand}: ${e.message}`)));
        child.on("close", (code) => (code === 0 ? resolve(Buffer.concat(chunks).toString("utf8")) : reject(new Error(`pulumi stack export exited with ${code}`))));
    });
}

function readStdin(): Promise<string> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        process.stdin.on("data", (c: Buffer) => chunks.push(c));
        process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        process.stdin.on("error", reject);
    });
}

/** Where the script reads and writes; tests pass their own. */
export interface TokenIO {
    readExport: (opts: TokenOptions) => Promise<string>;
    out: (line: string) => void;
    err: (line: string) => void;
    now?: Date;
}

const defaultIO: TokenIO = {
    readExport: (o) => (o.exportFile === "-" ? readStdin() : o.exportFile ? Promise.resolve(fs.readFileSync(o.exportFile, "utf8")) : runStackExport(o.stack)),
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
};

/** Parses the export; the error never quotes it (JSON.parse's message would show a slice of secrets). */
function parseExport(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        throw new Error("the stack export is not JSON: pass the output of `pulumi stack export --show-secrets`");
    }
}

/** The script: returns the exit code. */
export async function main(argv: string[], io: TokenIO = defaultIO): Promise<number> {
    let opts: TokenOptions;
    try {
        opts = parseArgs(argv);
    } catch (e) {
        io.err(`token: ${(e as Error).message}\nusage: npm run -s token -- [--stack <stack>] [--subject <sub>] [--scope a,b] [--verify <token>] [--export <file|->]`);
        return 2;
    }
    try {
        const { jwtSecret, claims } = secretsFromExport(parseExport(await io.readExport(opts)), opts.keysName);
        if (opts.verify !== undefined) {
            const payload = await verifyToken(opts.verify, jwtSecret, claims, { now: io.now });
            io.out(`valid: alg HS256, iss ${payload.iss}, aud ${String(payload.aud)}, sub ${payload.sub ?? "-"}, scope ${JSON.stringify(payload.scope)}, expires ${new Date(payload.exp! * 1000).toISOString()}`);
            return 0;
        }
        io.out(await mintToken(jwtSecret, claims, { now: io.now, subject: opts.subject, scope: opts.scope }));
        return 0;
    } catch (e) {
        io.err(`token: ${e instanceof TokenError ? "invalid token: " : ""}${(e as Error).message}`);
        return 1;
    }
}

if (require.main === module) {
    void main(process.argv.slice(2)).then((code) => process.exit(code));
}
