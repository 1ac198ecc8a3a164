// The platform's generated keys (R5, R10, R11): application API key and its secret, JWT signing secret,
// message-signing (HMAC) key, Triton's restricted-API key. Secrets end to end: only secret Outputs leave
// this component; consumers put them into their own Kubernetes Secrets or root-only files.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { buildClaims, KeyClaims } from "./claims";
import { resolveNow, rotationWindow } from "./rotation";
import type { KeysSettings } from "./schema";

export * from "./claims";
export * from "./rotation";
// Minting and verifying tokens (jose) lives in ./jwt, imported from there by its users (scripts/token.ts,
// tests): the program never signs a token, and every preview would otherwise load jose for nothing.
export { keysSchema } from "./schema";
export type { KeysSettings } from "./schema";

/** Arguments of Keys. */
export interface KeysArgs {
    /** The definition's `keys` settings (rotation, length, permissions, JWT claims). */
    settings: KeysSettings;
    /**
     * The clock deciding the rotation window. @default TRITON_PLATFORM_NOW when set, else the current time
     */
    now?: Date;
}

/** The keys a Keys component generates, by role: output name and child-resource suffix. */
export const KEY_ROLES = {
    apiKey: "api-key",
    apiKeySecret: "api-key-secret",
    jwtSecret: "jwt-secret",
    hmacKey: "hmac-key",
    tritonAdminKey: "triton-admin-key",
} as const;
export type KeyRole = keyof typeof KEY_ROLES;

/**
 * Generated keys that rotate every `rotationDays` (R5). Each key is a separate random resource whose
 * keepers hold the rotation window, so the first `pulumi up` of a new window replaces it. Creates no
 * Kubernetes objects and stores no key in its own inputs or outputs.
 */
export class Keys extends pulumi.ComponentResource {
    /** Application API key (R5). Secret. */
    public readonly apiKey: pulumi.Output<string>;
    /** The API key's secret, generated and stored apart from the key (R5). Secret. */
    public readonly apiKeySecret: pulumi.Output<string>;
    /** HS256 signing secret of R10 tokens (JWT_SECRET). Secret. */
    public readonly jwtSecret: pulumi.Output<string>;
    /** HMAC-SHA256 key of the R11 message signature. Secret. */
    public readonly hmacKey: pulumi.Output<string>;
    /** Value of Triton's restricted-API header (model control, repository, statistics...). Secret. */
    public readonly tritonAdminKey: pulumi.Output<string>;
    /** When the current keys are replaced (ISO 8601, UTC): the first `pulumi up` from then on rotates them. */
    public readonly expiresAt: pulumi.Output<string>;
    /** Identifies the key generation (`<period>-<generation>`): consumers may restart on change. Not secret. */
    public readonly rotationId: pulumi.Output<string>;
    /** JWT claims and API-key permissions the entry point checks (R5, R10). Not secret. */
    public readonly claims: pulumi.Output<KeyClaims>;

    constructor(name: string, args: KeysArgs, opts?: pulumi.ComponentResourceOptions) {
        super("triton-platform:keys:Keys", name, {}, opts);
        const window = rotationWindow(resolveNow(args.now), args.settings);
        const generate = (role: KeyRole): pulumi.Output<string> =>
            // RandomPassword (not RandomString): its result is a secret in state and in every Output.
            // Letters and digits only, so a key is safe in an env file, a header and a shell variable.
            pulumi.secret(
                new random.RandomPassword(
                    `${name}-${KEY_ROLES[role]}`,
                    { length: args.settings.length, special: false, minLower: 1, minUpper: 1, minNumeric: 1, keepers: window.keepers },
                    { parent: this },
                ).result,
            );
        this.apiKey = generate("apiKey");
        this.apiKeySecret = generate("apiKeySecret");
        this.jwtSecret = generate("jwtSecret");
        this.hmacKey = generate("hmacKey");
        this.tritonAdminKey = generate("tritonAdminKey");
        this.expiresAt = pulumi.output(window.expiresAt);
        this.rotationId = pulumi.output(`${window.period}-${args.settings.generation}`);
        this.claims = pulumi.output(buildClaims(args.settings));
        // Only non-secret outputs are registered: the key values live in the random resources alone.
        this.registerOutputs({ expiresAt: this.expiresAt, rotationId: this.rotationId, claims: this.claims });
    }
}
