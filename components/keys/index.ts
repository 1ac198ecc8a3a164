// The platform's generated keys (R5, R10, R11): application API key and its secret, JWT signing secret,
// message-signing (HMAC) key, Triton's restricted-API key. Secrets end to end: only secret Outputs leave
// this component; consumers put them into their own Kubernetes Secrets or root-only files.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { buildClaims, KeyClaims } from "./claims";
import { JwtSlot, jwtRotation, resolveNow, rotationWindow } from "./rotation";
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

/** Resource-name suffix of a JWT slot: slot a keeps the historic name `jwt-secret` (npm run token finds it by name). */
export function jwtSlotSuffix(slot: JwtSlot): string {
    return slot === "a" ? KEY_ROLES.jwtSecret : `${KEY_ROLES.jwtSecret}-b`;
}

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
    /** HS256 signing secret of R10 tokens (JWT_SECRET): the current rotation slot's. Secret. */
    public readonly jwtSecret: pulumi.Output<string>;
    /**
     * The previous rotation period's JWT secret, which the gateway still accepts until
     * `jwtRotation.previousAcceptedUntil` (tokens minted before a rotation keep working). Secret.
     */
    public readonly jwtPreviousSecret: pulumi.Output<string>;
    /** The JWT rotation plan: which key signs, until when the previous one is accepted. Not secret. */
    public readonly jwtRotation: pulumi.Output<{ signingKey: string; previousKey: string; previousAcceptedUntil: string; previousAcceptedUntilEpoch: number }>;
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
        const now = resolveNow(args.now);
        const window = rotationWindow(now, args.settings);
        const password = (resourceName: string, keepers: Record<string, string>) =>
            // RandomPassword (not RandomString): its result is a secret in state and in every Output.
            // Letters and digits only, so a key is safe in an env file, a header and a shell variable.
            pulumi.secret(
                new random.RandomPassword(
                    resourceName,
                    { length: args.settings.length, special: false, minLower: 1, minUpper: 1, minNumeric: 1, keepers },
                    { parent: this },
                ).result,
            );
        const generate = (role: KeyRole): pulumi.Output<string> => password(`${name}-${KEY_ROLES[role]}`, window.keepers);
        this.apiKey = generate("apiKey");
        this.apiKeySecret = generate("apiKeySecret");
        // The JWT secret alternates between two slots, so a rotation replaces only the slot that signs
        // next and the previous secret stays valid for the overlap (components/keys/rotation.ts).
        const jwt = jwtRotation(now, args.settings);
        const slotName = (slot: JwtSlot) => `${name}-${jwtSlotSuffix(slot)}`;
        const slots = { a: password(slotName("a"), jwt.keepers.a), b: password(slotName("b"), jwt.keepers.b) };
        this.jwtSecret = slots[jwt.signing];
        this.jwtPreviousSecret = slots[jwt.previous];
        this.jwtRotation = pulumi.output({
            signingKey: slotName(jwt.signing),
            previousKey: slotName(jwt.previous),
            previousAcceptedUntil: jwt.previousAcceptedUntil,
            previousAcceptedUntilEpoch: jwt.previousAcceptedUntilEpoch,
        });
        // The rotation plan, in every preview and up: what signs, what is still accepted, what rotates next.
        const plan =
            `keys: rotation period ${window.period} (${window.startsAt} to ${window.expiresAt}); JWT tokens are signed with ${slotName(jwt.signing)}; ` +
            `tokens signed with ${slotName(jwt.previous)} (the previous period's) are accepted until ${jwt.previousAcceptedUntil}; ` +
            `every key (and the Triton admin key, with a roll of the model pods) rotates on the first \`pulumi up\` from ${window.expiresAt}`;
        if (now.getTime() < Date.parse(jwt.previousAcceptedUntil)) {
            void pulumi.log.warn(`rotation overlap in progress: ${plan}`, this);
        } else {
            void pulumi.log.info(plan, this);
        }
        this.hmacKey = generate("hmacKey");
        this.tritonAdminKey = generate("tritonAdminKey");
        this.expiresAt = pulumi.output(window.expiresAt);
        this.rotationId = pulumi.output(`${window.period}-${args.settings.generation}`);
        this.claims = pulumi.output(buildClaims(args.settings));
        // Only non-secret outputs are registered: the key values live in the random resources alone.
        this.registerOutputs({ expiresAt: this.expiresAt, rotationId: this.rotationId, claims: this.claims, jwtRotation: this.jwtRotation });
    }
}
