// What the entry point checks (R5 permissions, R10 JWT claims): non-secret, stored beside the keys.
import type { KeysSettings } from "./schema";

/** The JWT algorithm of R10. Fixed: the verifier must refuse every other one (alg confusion). */
export const JWT_ALGORITHM = "HS256" as const;

/** JWT claims and API-key permissions, as consumers (entry point, `npm run token`) read them. */
export interface KeyClaims {
    algorithm: typeof JWT_ALGORITHM;
    /** `iss` of every token (R10: model-service). */
    iss: string;
    /** `aud` of every token (R10: collaboration-platform). */
    aud: string;
    /** `scope` of every token (R10: chat:write, metrics:read). */
    scope: string[];
    /** Token lifetime in seconds (R10: one hour). */
    lifetimeSeconds: number;
    /** R5 permissions of the application API key, by resource. */
    permissions: Record<string, string[]>;
}

/** The claims of the definition's key settings. */
export function buildClaims(settings: Pick<KeysSettings, "jwt" | "permissions">): KeyClaims {
    return {
        algorithm: JWT_ALGORITHM,
        iss: settings.jwt.issuer,
        aud: settings.jwt.audience,
        scope: [...settings.jwt.scopes],
        lifetimeSeconds: settings.jwt.lifetimeSeconds,
        permissions: Object.fromEntries(Object.entries(settings.permissions).map(([k, v]) => [k, [...v]])),
    };
}
