// Shared zod building blocks for the stack definition. Every area's schema fragment uses these so that
// a port, an image reference or a Kubernetes quantity means the same thing everywhere.
import { z } from "zod";
import { parseImageRef } from "./image-ref";

export type { ImageRef } from "./image-ref";
export { parseImageRef } from "./image-ref";

/**
 * Accepts a number or its string form. Top-level Pulumi config scalars arrive as strings
 * (`pulumi config set replicas 3` stores "3"); values nested in structured config arrive typed.
 */
export function int(min: number, max: number = Number.MAX_SAFE_INTEGER) {
    return z.preprocess(
        (v) => (typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : v),
        z
            .number({ error: "expected a whole number" })
            .int({ error: "expected a whole number" })
            .min(min, { error: `expected a whole number >= ${min}` })
            .max(max, { error: `expected a whole number <= ${max}` }),
    );
}

/** A boolean or its string form ("true"/"false"). */
export const bool = z.preprocess(
    (v) => (v === "true" ? true : v === "false" ? false : v),
    z.boolean({ error: "expected true or false" }),
);

/** A TCP/UDP port, 1-65535. */
export const port = int(1, 65535);

/** A DNS-1123 label: Kubernetes names, namespaces, model names used as object names. */
export const dnsLabel = z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, {
        error: "expected a DNS-1123 label: lower-case letters, digits and '-', at most 63 characters",
    });

const QUANTITY = /^(\d+(\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const QUANTITY_FACTORS: Record<string, number> = {
    "": 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
};

/** A Kubernetes resource quantity such as `500m`, `2`, `8Gi`. */
export const quantity = z
    .string()
    .regex(QUANTITY, { error: "expected a Kubernetes quantity such as 500m, 2, 512Mi or 8Gi" });

/** The numeric value of a Kubernetes quantity (bytes for memory, cores for CPU). */
export function quantityValue(q: string): number {
    const m = QUANTITY.exec(q);
    if (!m) {
        throw new Error(`not a Kubernetes quantity: ${q}`);
    }
    return Number(m[1]) * QUANTITY_FACTORS[m[3] ?? ""];
}

/**
 * An image reference pinned to a version: a tag other than `latest`, or a sha256 digest. Mutable tags
 * make a preview lie about what will run and make rollback (R16) impossible.
 */
export const pinnedImage = z.string().superRefine((ref, ctx) => {
    const parsed = parseImageRef(ref);
    if (!parsed) {
        ctx.addIssue({ code: "custom", message: `"${ref}" is not an image reference (registry/repository:tag)` });
        return;
    }
    if (!parsed.tag && !parsed.digest) {
        ctx.addIssue({
            code: "custom",
            message: `image "${ref}" has no tag or digest: pin a version, e.g. ${ref}:23.12-py3 or ${ref}@sha256:<digest>`,
        });
    } else if (parsed.tag === "latest" && !parsed.digest) {
        ctx.addIssue({
            code: "custom",
            message: `image "${ref}" uses the mutable tag "latest": pin a release tag or a sha256 digest`,
        });
    }
});

/** An IPv4 or IPv6 CIDR block. */
export const cidr = z.string().refine(isCidr, { error: "expected a CIDR block such as 10.0.0.0/8 or ::/0" });

/** True for a well-formed IPv4 or IPv6 CIDR. */
export function isCidr(value: string): boolean {
    const [addr, bits, ...rest] = value.split("/");
    if (rest.length > 0 || bits === undefined || !/^\d{1,3}$/.test(bits)) {
        return false;
    }
    const prefix = Number(bits);
    if (addr.includes(":")) {
        return prefix <= 128 && /^[0-9a-fA-F:]+$/.test(addr) && addr.split("::").length <= 2;
    }
    const octets = addr.split(".");
    return (
        prefix <= 32 &&
        octets.length === 4 &&
        octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255)
    );
}
