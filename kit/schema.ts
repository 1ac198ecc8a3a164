// Shared zod building blocks for the stack definition. Every area's schema fragment uses these so that
// a port, an image reference or a Kubernetes quantity means the same thing everywhere.
import { z } from "zod";
import { isMutableTag, parseImageRef } from "./image-ref";

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
 * An image reference pinned to a version: a release tag (not `latest`, `stable`, `Latest` or any other
 * moving name, see MUTABLE_TAGS; and with a version number in it), or a sha256 digest. Mutable tags
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
    } else if (parsed.tag && !parsed.digest && isMutableTag(parsed.tag)) {
        ctx.addIssue({
            code: "custom",
            message: `image "${ref}" uses the mutable tag "${parsed.tag}": pin a release tag (with a version number) or a sha256 digest`,
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

// --- Values that reach generated text (docs/HARDENING.md) ---
//
// Every setting ends up in some text another program parses: haproxy.cfg, an nftables ruleset, a shell
// script, sshd_config, a Kubernetes manifest (YAML/JSON), an OpenTelemetry Collector config. A value that
// text cannot hold is refused here, with its config key, instead of breaking (or adding to) that text.

/**
 * Characters no setting may hold: C0 and C1 controls (newline, carriage return, tab, NUL, ESC), DEL and
 * the Unicode line and paragraph separators. Each ends a line, a directive or a token in one of the
 * generated files; none has a use in a host name, a path, a label or a description.
 */
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Names a control character for an error message (`\n`, `U+0000`). */
export function describeControlChar(s: string): string {
    const c = CONTROL_CHARS.exec(s)?.[0] ?? "";
    const named: Record<string, string> = { "\n": "a newline (\\n)", "\r": "a carriage return (\\r)", "\t": "a tab (\\t)", "\u0000": "a NUL byte" };
    return named[c] ?? `the control character U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * Every string (values and object keys) under `value` holding a control character, with its path.
 * stack/definition.ts runs it over the raw config of every key, so no setting, present or future, can
 * carry a line break into a generated file.
 */
export function controlCharIssues(
    value: unknown,
    path: (string | number)[] = [],
    multiline: readonly string[] = [],
): { path: (string | number)[]; message: string }[] {
    const out: { path: (string | number)[]; message: string }[] = [];
    const visit = (v: unknown, p: (string | number)[]) => {
        if (typeof v === "string") {
            // Multi-line documents (a PEM bundle, a kubeconfig) may hold line breaks and tabs, nothing else.
            const text = multiline.includes(p.join(".")) ? v.replace(/[\n\r\t]/g, "") : v;
            if (CONTROL_CHARS.test(text)) {
                out.push({ path: p, message: `holds ${describeControlChar(text)}: settings are written into generated configs (haproxy.cfg, nftables, scripts, manifests), where it would end the line; remove it` });
            }
        } else if (Array.isArray(v)) {
            v.forEach((x, i) => visit(x, [...p, i]));
        } else if (v !== null && typeof v === "object") {
            for (const [k, x] of Object.entries(v)) {
                if (CONTROL_CHARS.test(k)) {
                    out.push({ path: p, message: `the key ${JSON.stringify(k)} holds ${describeControlChar(k)}; remove it` });
                }
                visit(x, [...p, k]);
            }
        }
    };
    visit(value, path);
    return out;
}

/** A DNS-1123 subdomain: dot-separated DNS labels, at most 253 characters (Kubernetes object names, cluster domains). */
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;
export const dnsSubdomain = z.string().regex(DNS_SUBDOMAIN, {
    error: "expected a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each part starting and ending with a letter or digit",
});

const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** True for a Kubernetes label or annotation key: `[prefix/]name`, prefix a DNS subdomain, name at most 63 characters. */
export function isQualifiedKey(key: string): boolean {
    const slash = key.lastIndexOf("/");
    if (slash === -1) {
        return QUALIFIED_NAME.test(key);
    }
    const prefix = key.slice(0, slash);
    return DNS_SUBDOMAIN.test(prefix) && QUALIFIED_NAME.test(key.slice(slash + 1));
}

/** A Kubernetes label value: empty, or at most 63 of letters, digits, '-', '_', '.', alphanumeric at both ends. */
export const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

const KEY_MESSAGE = "is not a Kubernetes label key: [prefix/]name, name at most 63 letters, digits, '-', '_', '.' (alphanumeric at both ends), prefix a DNS subdomain";

/** A map of Kubernetes labels, keys and values checked as the API server would. */
export const labelMap = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
    for (const [k, v] of Object.entries(labels)) {
        if (!isQualifiedKey(k)) {
            ctx.addIssue({ code: "custom", path: [k], message: `"${k}" ${KEY_MESSAGE}` });
        } else if (!LABEL_VALUE.test(v)) {
            ctx.addIssue({ code: "custom", path: [k], message: `"${v}" is not a Kubernetes label value: at most 63 letters, digits, '-', '_', '.', alphanumeric at both ends` });
        }
    }
});

/** A map of Kubernetes annotations: keys checked as label keys are; values are free text (YAML-quoted by the provider). */
export const annotationMap = z.record(z.string(), z.string()).superRefine((annotations, ctx) => {
    for (const k of Object.keys(annotations)) {
        if (!isQualifiedKey(k)) {
            ctx.addIssue({ code: "custom", path: [k], message: `"${k}" ${KEY_MESSAGE.replace("label", "annotation")}` });
        }
    }
});

/** The recommended labels every object carries (kit/labels.ts); user labels may not replace them. */
export const RECOMMENDED_LABEL_KEYS = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
] as const;
