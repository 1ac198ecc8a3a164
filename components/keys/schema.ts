// Settings of the generated keys (config key `keys`): R5 rotation and permissions, R10 JWT claims.
import { z } from "zod";
import { int } from "../../kit/schema";

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
                /**
                 * After a rotation, how long the gateway still accepts tokens signed with the previous JWT
                 * secret, counted from the start of the new rotation window (the new secret signs from the
                 * first `pulumi up` in it). Must cover the token lifetime plus the time until that `up` runs
                 * (a daily scheduled `up`: 1 day). 0 turns the overlap off. @default 172800 (2 days)
                 */
                previousKeyOverlapSeconds: int(0, 30 * 86_400).default(2 * 86_400),
            })
            .superRefine((jwt, ctx) => {
                if (jwt.previousKeyOverlapSeconds > 0 && jwt.previousKeyOverlapSeconds < jwt.lifetimeSeconds) {
                    ctx.addIssue({
                        code: "custom",
                        path: ["previousKeyOverlapSeconds"],
                        message: `an overlap of ${jwt.previousKeyOverlapSeconds}s is shorter than a token's lifetime (${jwt.lifetimeSeconds}s): tokens minted just before a rotation would fail before they expire`,
                    });
                }
            })
            .prefault({}),
    })
    .superRefine((keys, ctx) => {
        if (keys.jwt.previousKeyOverlapSeconds >= keys.rotationDays * 86_400) {
            ctx.addIssue({
                code: "custom",
                path: ["jwt", "previousKeyOverlapSeconds"],
                message: `the overlap must end within the rotation window (${keys.rotationDays} days): two windows' keys are kept, not three`,
            });
        }
    })
    .prefault({});
export type KeysSettings = z.infer<typeof keysSchema>;
