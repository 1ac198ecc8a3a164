// `npm run -s token`: mints an R10 JWT signed with the stack's JWT secret, verifies one (`--verify`), or
// sends a signed R11 envelope through the gateway (`--send`), for platform admins testing a
// collaboration-platform integration.
//
//   npm run -s token -- [--stack <stack>] [--subject <sub>] [--scope chat:write,metrics:read]
//   npm run -s token -- --verify <token> [--stack <stack>]
//   npm run -s token -- --send <url> [--platform <name>] [--session <id>] [--query <text>] [--timeout <s>]
//   pulumi stack export --show-secrets --stack dev | npm run -s token -- --export -
//
// The JWT secret is not a stack output (R5: no secret outputs). The script reads the stack's state with
// `pulumi stack export --show-secrets`, whose output goes into this process's memory through a pipe, never
// to the terminal or a file; it keeps the Keys component's JWT secret, HMAC key (for --send) and claims
// and drops the rest.
// Run with ts-node (`ts-node --transpile-only scripts/token.ts`); jose is ESM-only and loads through
// Node's require(esm) (Node >= 20.19).
import { spawn } from "child_process";
import { randomUUID } from "crypto";
import * as fs from "fs";
import { buildSignedEnvelope, Envelope, envelopeRequest } from "../components/envelope";
import { KeyClaims } from "../components/keys";
import { mintToken, TokenError, verifyToken } from "../components/keys/jwt";

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
    /** POST a signed R11 envelope to this URL (a webhook or REST route of the gateway) instead of printing a token. */
    send?: string;
    /** R11 header.platform of the sent envelope. @default "cli" */
    platform?: string;
    /** R11 payload.session_id of the sent envelope. @default "cli-" + 8 random hex digits */
    sessionId?: string;
    /** R11 payload.query of the sent envelope. @default {@link DEFAULT_QUERY} */
    query?: string;
    /** Seconds to wait for the answer. @default 10 */
    timeoutSeconds?: number;
    /** Read the export from this file (`-`: stdin) instead of running `pulumi stack export`. */
    exportFile?: string;
    /** Name of the Keys component in the program. @default "keys" */
    keysName: string;
}

/** Scope of the token `--send` mints (R10: what webhook and REST routes ask for). */
export const SEND_SCOPE = "chat:write";
/** R11 header.platform of a sent envelope unless `--platform` says otherwise. */
export const DEFAULT_PLATFORM = "cli";
/** R11 payload.query of a sent envelope unless `--query` says otherwise. */
export const DEFAULT_QUERY = "ping from npm run token";
/** Seconds `--send` waits for the answer unless `--timeout` says otherwise. */
export const DEFAULT_SEND_TIMEOUT_SECONDS = 10;

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
            case "--send":
                opts.send = value();
                break;
            case "--platform":
                opts.platform = value();
                break;
            case "--session":
                opts.sessionId = value();
                break;
            case "--query":
                opts.query = value();
                break;
            case "--timeout": {
                const v = value();
                if (!/^[1-9][0-9]{0,3}$/.test(v)) {
                    throw new Error(`--timeout expects whole seconds between 1 and 9999, got ${v}`);
                }
                opts.timeoutSeconds = Number(v);
                break;
            }
            default:
                throw new Error(`unknown option ${flag}`);
        }
    }
    if (opts.send !== undefined && opts.verify !== undefined) {
        throw new Error("--send and --verify cannot be combined");
    }
    const sendOnly = (["platform", "sessionId", "query", "timeoutSeconds"] as const).filter((k) => opts[k] !== undefined);
    if (opts.send === undefined && sendOnly.length > 0) {
        throw new Error(`--${sendOnly[0] === "sessionId" ? "session" : sendOnly[0] === "timeoutSeconds" ? "timeout" : sendOnly[0]} only applies with --send <url>`);
    }
    if (opts.send !== undefined) {
        sendUrl(opts.send);
    }
    return opts;
}

/** Checks the `--send` URL: http(s), no credentials in it (they would end up in shell histories and logs). */
export function sendUrl(raw: string): URL {
    let url: URL;
    try {
        url = new URL(raw);
    } catch {
        throw new Error(`--send expects a URL such as http://203.0.113.10:18789/webhook/test, got ${raw}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new Error(`--send expects an http:// or https:// URL, got ${url.protocol}`);
    }
    if (url.username || url.password) {
        throw new Error("--send: put no credentials in the URL; the script sends its own token");
    }
    return url;
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

function exportedResources(doc: unknown): ExportedResource[] {
    const resources = ((doc as { deployment?: { resources?: ExportedResource[] } })?.deployment?.resources ?? []) as ExportedResource[];
    if (resources.length === 0) {
        throw new Error("the export has no resources: has `pulumi up` run for this stack?");
    }
    return resources;
}

/** The result of one of the Keys component's random resources (`<keysName>-<role>`), by role. */
function generatedKey(resources: ExportedResource[], keysName: string, role: string, what: string): string {
    const r = resources.find((x) => x.type === "random:index/randomPassword:RandomPassword" && x.urn.endsWith(`::${keysName}-${role}`));
    if (!r) {
        throw new Error(`no ${keysName}-${role} in the stack: is it a triton-platform stack, and is the Keys component named "${keysName}"?`);
    }
    const value = decodeSecret(r.outputs?.result, what);
    if (typeof value !== "string" || value.length === 0) {
        throw new Error(`${what} in the export is empty or not a string`);
    }
    return value;
}

/**
 * Finds the JWT secret and the claims of a Keys component in a `pulumi stack export --show-secrets`
 * document. Error messages never include a secret value.
 */
export function secretsFromExport(doc: unknown, keysName = "keys"): { jwtSecret: string; claims: KeyClaims } {
    const resources = exportedResources(doc);
    const component = resources.find((r) => r.type === "triton-platform:keys:Keys" && r.urn.endsWith(`::${keysName}`));
    // The JWT secret alternates between two resources on rotation (components/keys/rotation.ts): the
    // component's jwtRotation output names the one that signs now.
    const signing = (component?.outputs?.jwtRotation as { signingKey?: unknown } | undefined)?.signingKey;
    const role = typeof signing === "string" && signing.startsWith(`${keysName}-`) ? signing.slice(keysName.length + 1) : "jwt-secret";
    const secret = generatedKey(resources, keysName, role, "the JWT secret");
    const stack = resources.find((r) => r.type === "pulumi:pulumi:Stack");
    const claims = (component?.outputs?.claims ?? stack?.outputs?.jwtClaims) as KeyClaims | undefined;
    if (!claims || typeof claims.iss !== "string" || typeof claims.aud !== "string" || !Array.isArray(claims.scope)) {
        throw new Error("no JWT claims in the export (Keys component outputs or the jwtClaims stack output)");
    }
    return { jwtSecret: secret, claims };
}

/** The R11 HMAC key (resource `<keysName>-hmac-key`) from the same export. Errors never quote it. */
export function hmacKeyFromExport(doc: unknown, keysName = "keys"): string {
    return generatedKey(exportedResources(doc), keysName, "hmac-key", "the HMAC key");
}

/** The part of `fetch` the script uses (tests pass a fake). */
export type FetchLike = (
    url: string,
    init: { method: "POST"; headers: Record<string, string>; body: string; signal?: AbortSignal },
) => Promise<{ status: number; statusText: string; text(): Promise<string> }>;

/** What `--send` posts. */
export interface SendMessage {
    url: string;
    platform: string;
    sessionId: string;
    query: string;
    /** @default a random UUID v4 */
    messageId?: string;
    /** Milliseconds since the epoch. @default now */
    timestamp?: number;
}

/**
 * The request `--send` makes: an R11 envelope signed with the HMAC key, POSTed with the token as
 * `Authorization: Bearer` (R10), for `fetch(request.url, request.init)`. Pure apart from the defaults.
 */
export function buildSendRequest(message: SendMessage, keys: { token: string; hmacKey: string }): { envelope: Envelope; request: ReturnType<typeof envelopeRequest> } {
    const envelope = buildSignedEnvelope(
        { platform: message.platform, sessionId: message.sessionId, query: message.query, messageId: message.messageId, timestamp: message.timestamp },
        keys.hmacKey,
    );
    return { envelope, request: envelopeRequest(sendUrl(message.url).toString(), envelope, keys.token) };
}

/** Replaces every occurrence of the given values (token, keys) in a text an upstream sent back. */
export function redact(text: string, values: string[]): string {
    return values.filter((v) => v.length >= 8).reduce((t, v) => t.split(v).join("[redacted]"), text);
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
    /** HTTP client of `--send`. @default the global fetch */
    fetch?: FetchLike;
}

const defaultIO: TokenIO = {
    readExport: (o) => (o.exportFile === "-" ? readStdin() : o.exportFile ? Promise.resolve(fs.readFileSync(o.exportFile, "utf8")) : runStackExport(o.stack)),
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
};

/**
 * `--send`: mints a token (scope chat:write unless --scope), signs an envelope, POSTs it and prints the
 * status and the response body (never the token or a key). Exit code 0 only for a 2xx answer.
 */
async function send(opts: TokenOptions & { send: string }, keys: { jwtSecret: string; hmacKey: string; claims: KeyClaims }, io: TokenIO): Promise<number> {
    const token = await mintToken(keys.jwtSecret, keys.claims, { now: io.now, subject: opts.subject, scope: opts.scope ?? [SEND_SCOPE] });
    const { envelope, request } = buildSendRequest(
        {
            url: opts.send,
            platform: opts.platform ?? DEFAULT_PLATFORM,
            sessionId: opts.sessionId ?? `cli-${randomUUID().slice(0, 8)}`,
            query: opts.query ?? DEFAULT_QUERY,
            timestamp: io.now?.getTime(),
        },
        { token, hmacKey: keys.hmacKey },
    );
    const secrets = [token, keys.jwtSecret, keys.hmacKey];
    io.err(`token: POST ${request.url}: message ${envelope.header.message_id}, platform ${envelope.header.platform}, session ${envelope.payload.session_id}`);
    const timeout = opts.timeoutSeconds ?? DEFAULT_SEND_TIMEOUT_SECONDS;
    let status: number;
    let body: string;
    try {
        const response = await (io.fetch ?? (fetch as unknown as FetchLike))(request.url, { ...request.init, signal: AbortSignal.timeout(timeout * 1000) });
        status = response.status;
        io.out(`HTTP ${status}${response.statusText ? ` ${response.statusText}` : ""}`);
        body = await response.text();
    } catch (e) {
        const err = e as Error & { cause?: { code?: string; message?: string } };
        const why = err.name === "TimeoutError" ? `no answer within ${timeout}s (--timeout)` : (err.cause?.code ?? err.cause?.message ?? err.message);
        io.err(`token: could not send to ${request.url}: ${redact(why, secrets)} (R15: is the port reachable? nc -vz <host> <port>)`);
        return 1;
    }
    if (body.length > 0) {
        // An upstream may echo the request: whatever it returns, the token and keys are not printed.
        io.out(redact(body.replace(/\n$/, ""), secrets));
    }
    if (status < 200 || status > 299) {
        io.err(`token: the gateway answered ${status}${status === 401 || status === 403 ? ": the body says why the token was refused (R15: clocks, keys rotated since the last export?)" : ""}`);
        return 1;
    }
    return 0;
}

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
        io.err(
            `token: ${(e as Error).message}\nusage: npm run -s token -- [--stack <stack>] [--subject <sub>] [--scope a,b] [--verify <token>] [--export <file|->]\n       npm run -s token -- --send <url> [--platform <name>] [--session <id>] [--query <text>] [--timeout <seconds>] [--stack <stack>]`,
        );
        return 2;
    }
    try {
        const doc = parseExport(await io.readExport(opts));
        const { jwtSecret, claims } = secretsFromExport(doc, opts.keysName);
        if (opts.send !== undefined) {
            return await send({ ...opts, send: opts.send }, { jwtSecret, claims, hmacKey: hmacKeyFromExport(doc, opts.keysName) }, io);
        }
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
