// Secret policies (R5, R7): no secret-looking literal where Pulumi or Kubernetes would show it in
// plain text (env values, ConfigMaps, container command lines, remote commands), generated keys long
// enough, and key rotation within 90 days. Detection lives in lib/text.ts; messages name the key and
// the kind of literal, never the value.
import { WORKLOAD_TYPES, T, containersOf, podTemplate } from "./lib/k8s";
import { PackPolicy, ident, resourcePolicy } from "./lib/policy";
import { findSecretLiterals, findTokens, isLiteralSecretValue, isSecretKey } from "./lib/text";

export const RANDOM_KEY_TYPES = ["random:index/randomPassword:RandomPassword", "random:index/randomBytes:RandomBytes"];
export const COMMAND_TYPES = ["command:remote:Command", "command:local:Command"];

export const noSecretInEnv = resourcePolicy({
    name: "no-secret-in-env",
    description: "No container environment variable carries a secret as a literal value.",
    area: "secrets",
    source: "R5, R7; Kyverno (secrets in env), kube-score",
    details:
        "An `env[].value` is a violation when the variable's name denotes a secret (PASSWORD, SECRET, TOKEN, API_KEY, ACCESS_KEY, PRIVATE_KEY, CREDENTIALS, ... but not *_FILE, *_PATH, *_NAME, *_URL, *_ID) and the value is a literal, or when the value looks like a credential (PEM key, AWS key id, JWT, GitHub/Slack/Google token, bearer token, URL with a password).",
    enforcementLevel: "mandatory",
    remediation: "Reference a Kubernetes Secret with env[].valueFrom.secretKeyRef instead of a value.",
    types: WORKLOAD_TYPES as readonly string[],
    validate: (ctx) => {
        for (const { c, where } of containersOf(podTemplate(ctx.type, ctx.props)?.spec)) {
            for (const e of c.env ?? []) {
                if (typeof e.value !== "string") {
                    continue;
                }
                if (isSecretKey(String(e.name)) && isLiteralSecretValue(e.value)) {
                    ctx.report(`${where} sets env var ${ident(e.name)} to a literal secret`, "use valueFrom.secretKeyRef");
                } else {
                    for (const f of findTokens(e.value)) {
                        ctx.report(`${where} env var ${ident(e.name)} holds what looks like ${f.what}`, "move it into a Secret and use valueFrom.secretKeyRef");
                    }
                }
            }
        }
    },
});

export const noSecretInConfigMap = resourcePolicy({
    name: "no-secret-in-configmap",
    description: "No ConfigMap holds a secret-looking literal.",
    area: "secrets",
    source: "R5; Kubernetes good practice for Secrets",
    details:
        "Each `data` entry is a violation when its key names a secret and its value is a literal, or when its text contains a credential format or a `key=value` / `key: value` / `--flag value` whose key names a secret and whose value is a literal (not `$VAR`, a path or a placeholder). `binaryData` entries are base64-decoded and checked the same way (a secret does not stop being one by being encoded); a `binaryData` entry whose key names a secret is a violation whatever it holds.",
    enforcementLevel: "mandatory",
    remediation: "Put the value in a Kubernetes Secret (or the stack's secret config) and reference it.",
    types: [T.ConfigMap],
    validate: (ctx) => {
        const entries: [string, string, string][] = [];
        for (const [key, value] of Object.entries(ctx.props.data ?? {})) {
            if (typeof value === "string") {
                entries.push([key, value, "entry"]);
            }
        }
        for (const [key, value] of Object.entries(ctx.props.binaryData ?? {})) {
            if (typeof value !== "string") {
                continue;
            }
            if (isSecretKey(key)) {
                ctx.report(`binaryData entry ${ident(key)} is named like a secret`, "move it into a Secret");
                continue;
            }
            entries.push([key, Buffer.from(value, "base64").toString("latin1"), "binaryData entry"]);
        }
        for (const [key, value, kind] of entries) {
            if (isSecretKey(key) && isLiteralSecretValue(value)) {
                ctx.report(`${kind} ${ident(key)} is a literal secret`, "move it into a Secret");
                continue;
            }
            for (const f of findSecretLiterals(value)) {
                ctx.report(`${kind} ${ident(key)} contains ${f.what}`, "move the secret into a Secret and read it from a mounted file or env var");
            }
        }
    },
});

export const noSecretInArgs = resourcePolicy({
    name: "no-secret-in-args",
    description: "No container command or args carry a secret-looking literal.",
    area: "secrets",
    source: "R5, R7",
    details:
        "Joins each container's `command` and `args` and looks for credential formats, `--password=...`/`--token ...` style options and `KEY=value` assignments whose key names a secret and whose value is a literal (shell expansions such as \"$TOKEN\" are fine).",
    enforcementLevel: "mandatory",
    remediation: "Pass the secret through an env var fed by secretKeyRef and expand it in the shell (\"$VAR\").",
    types: WORKLOAD_TYPES as readonly string[],
    validate: (ctx) => {
        for (const { c, where } of containersOf(podTemplate(ctx.type, ctx.props)?.spec)) {
            const text = [...(c.command ?? []), ...(c.args ?? [])].map(String).join(" ");
            for (const f of findSecretLiterals(text)) {
                ctx.report(`${where} command line contains ${f.what}`, "read the secret from an env var (secretKeyRef) or a mounted Secret file");
            }
        }
    },
});

export const noSecretInCommands = resourcePolicy({
    name: "no-secret-in-remote-commands",
    description: "No remote or local command embeds a secret-looking literal in its create, update or delete script.",
    area: "secrets",
    source: "R5 (never in logs or state in plain text)",
    details:
        "Scans the `create`, `update` and `delete` strings of `command:remote:Command` and `command:local:Command` with the same detector as no-secret-in-args. `stdin` and `environment` are the intended channels for secrets and are not scanned.",
    enforcementLevel: "mandatory",
    remediation: "Send the secret on stdin or through the command's environment, and read it in the script.",
    types: COMMAND_TYPES,
    validate: (ctx) => {
        for (const field of ["create", "update", "delete"]) {
            const text = ctx.props[field];
            if (typeof text !== "string") {
                continue;
            }
            for (const f of findSecretLiterals(text)) {
                ctx.report(`its ${field} script contains ${f.what}`, "pass the secret on stdin or in environment and reference it as a variable");
            }
        }
    },
});

export const randomKeyLength = resourcePolicy<{ minLength: number }>({
    name: "random-key-length",
    description: "Generated keys (RandomPassword, RandomBytes) are at least 32 characters or bytes long.",
    area: "secrets",
    source: "R5",
    details: "`length` of every `random:index/randomPassword:RandomPassword` and `random:index/randomBytes:RandomBytes` must be >= `minLength`.",
    enforcementLevel: "mandatory",
    remediation: "Raise length to at least minLength (keys.length in the stack config).",
    config: { minLength: { type: "integer", minimum: 1, description: "Shortest acceptable generated key.", default: 32 } },
    types: RANDOM_KEY_TYPES,
    validate: (ctx) => {
        const length = ctx.props.length;
        if (typeof length !== "number" || length < ctx.config.minLength) {
            ctx.report(`generates a key shorter than ${ctx.config.minLength}`, `set length to at least ${ctx.config.minLength}`);
        }
    },
});

export const keyRotationPeriod = resourcePolicy<{ maxRotationDays: number }>({
    name: "key-rotation-period",
    description: "Generated keys rotate at least every 90 days (R5).",
    area: "secrets",
    source: "R5",
    details:
        "Every RandomPassword/RandomBytes must carry `keepers.rotationDays` (a whole number <= `maxRotationDays`) and `keepers.rotationPeriod` (the window index that changes every rotationDays, components/keys/rotation.ts), so the first `pulumi up` of a new window replaces the key.",
    enforcementLevel: "mandatory",
    remediation: "Use the keepers of rotationWindow() from components/keys/rotation.ts, with rotationDays <= 90.",
    config: { maxRotationDays: { type: "integer", minimum: 1, description: "Longest key lifetime in days.", default: 90 } },
    types: RANDOM_KEY_TYPES,
    validate: (ctx) => {
        const keepers = ctx.props.keepers ?? {};
        const days = Number(keepers.rotationDays);
        if (keepers.rotationDays === undefined || keepers.rotationPeriod === undefined) {
            ctx.report("has no rotation keepers, so the key never rotates", "set keepers from rotationWindow() (rotationDays and rotationPeriod)");
        } else if (!Number.isInteger(days) || days < 1 || days > ctx.config.maxRotationDays) {
            ctx.report(`rotates less often than every ${ctx.config.maxRotationDays} days`, `set keys.rotationDays to at most ${ctx.config.maxRotationDays}`);
        }
    },
});

export const secretPolicies: PackPolicy[] = [noSecretInEnv, noSecretInConfigMap, noSecretInArgs, noSecretInCommands, randomKeyLength, keyRotationPeriod];
