// Settings of the generated keys (config key `keys`): R5 rotation and permissions, R10 JWT claims.
import { z } from "zod";
import { int } from "../../stack/schema-kit";

export const keysSchema = z
    .strictObject({
        /**
         * Days a generated key lives before the next `pulumi up` replaces it (R5: 90). Periods are fixed
         * windows counted from 1970-01-01 UTC, so every stack and every run agrees on when keys rotate.
         */
        rotationDays: int(1, 365).default(90),
        /**
         * Bump to rotate every key now, without waiting for the period to end (a leaked key, an offboarded
         * operator). Any change regenerates all keys on the next `pulumi up`.
         */
        generation: int(0).default(0),
        /** Length of every generated key, in characters (letters and digits: safe in env files and headers). */
        length: int(32, 256).default(48),
        /** R5 permissions of the application API key. */
        permissions: z
            .record(z.string(), z.array(z.string()).min(1))
            .default({ "model-inference": ["predict", "healthcheck"], "system-metrics": ["read"] }),
        /** R10 JWT claims checked by the entry point. */
        jwt: z
            .strictObject({
                issuer: z.string().min(1).default("model-service"),
                audience: z.string().min(1).default("collaboration-platform"),
                scopes: z.array(z.string().min(1)).min(1).default(["chat:write", "metrics:read"]),
                lifetimeSeconds: int(60, 86_400).default(3600),
            })
            .prefault({}),
    })
    .prefault({});
export type KeysSettings = z.infer<typeof keysSchema>;
