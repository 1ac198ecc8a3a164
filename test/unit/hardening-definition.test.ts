// Hardening, "settings that reach generated text" and "safe defaults": every value the definition
// accepts must be one the generated text (haproxy.cfg, nftables, scripts, sshd_config, manifests) can
// hold, and unsafe defaults or contradictions are refused with the key to fix. Each case below was
// accepted before (docs/HARDENING.md lists them).
import { describe, expect, it } from "vitest";
import { renderDirectoryIssue } from "../../components/cluster/schema";
import { upstreamHostIssue } from "../../components/gateway/schema";
import { modelRepositoryIssue } from "../../components/server/schema";
import { parseDefinition } from "../../stack/definition";
import { PROJECT } from "../support/harness";
import { stackFileRaw } from "../support/definitions";

const ctx = { project: PROJECT, stack: "test" };
const server = { host: "203.0.113.10" };
const route = (extra: Record<string, unknown>) => ({ name: "extra", access: "rest", scope: "chat:write", ...extra });

/** Each case: raw config, the key the error must name, what the message must say. */
const refused: { what: string; raw: Record<string, unknown>; key: string; says: RegExp }[] = [
    // Generated text
    {
        what: "a newline in a regex route path (broke haproxy.cfg)",
        raw: { gateway: { routes: [route({ match: "regex", path: "^/a\n    http-request allow$" })] } },
        key: "gateway.routes[0].path",
        says: /newline/,
    },
    { what: "a space in a regex route path", raw: { gateway: { routes: [route({ match: "regex", path: "^/a b$" })] } }, key: "gateway.routes[0].path", says: /without spaces/ },
    { what: "an escape PCRE2 refuses (\\i)", raw: { gateway: { routes: [route({ match: "regex", path: "^/a\\i$" })] } }, key: "gateway.routes[0].path", says: /not a valid regular expression/ },
    { what: "a single quote in a regex route path", raw: { gateway: { routes: [route({ match: "regex", path: "^/a'b$" })] } }, key: "gateway.routes[0].path", says: /single quote/ },
    {
        what: "a newline in a free-text rule description (nftables comment)",
        raw: { securityGroup: { extraRules: [{ direction: "egress", port: 5432, cidrs: ["10.0.0.0/8"], description: "db\n}\nchain x {" }] } },
        key: "securityGroup.extraRules[0].description",
        says: /newline/,
    },
    { what: "a carriage return in a log prefix", raw: { logSink: { prefix: "logs\r" } }, key: "logSink.prefix", says: /carriage return/ },
    { what: "a NUL byte in a label value", raw: { labels: { team: "a\u0000b" } }, key: "labels.team", says: /NUL/ },
    // Render directory
    { what: "cluster.directory climbing out of the project", raw: { cluster: { mode: "render", directory: "../.." } }, key: "cluster.directory", says: /climbs out of the project.*allowOutsideProject/ },
    { what: "cluster.directory absolute", raw: { cluster: { mode: "render", directory: "/etc/kubernetes/manifests" } }, key: "cluster.directory", says: /outside the project/ },
    { what: "cluster.directory the project itself", raw: { cluster: { mode: "render", directory: "./" } }, key: "cluster.directory", says: /project folder itself/ },
    {
        what: "cluster.directory a system folder even with the opt-in",
        raw: { cluster: { mode: "render", directory: "/etc/kubernetes", allowOutsideProject: true } },
        key: "cluster.directory",
        says: /system folder/,
    },
    // Model repository on the server
    { what: "modelRepository /", raw: { cluster: { mode: "none" }, server: { ...server, modelRepository: "/" } }, key: "server.modelRepository", says: /system folder/ },
    { what: "modelRepository the key folder", raw: { cluster: { mode: "none" }, server: { ...server, modelRepository: "/etc/triton-platform/secrets" } }, key: "server.modelRepository", says: /key files/ },
    { what: "modelRepository with ..", raw: { cluster: { mode: "none" }, server: { ...server, modelRepository: "/var/lib/triton-platform/../../../etc" } }, key: "server.modelRepository", says: /"\.\."/ },
    { what: "modelRepository /root/models", raw: { cluster: { mode: "none" }, server: { ...server, modelRepository: "/root/models" } }, key: "server.modelRepository", says: /system folder/ },
    // Kubernetes-invalid values
    { what: "a zone that is not a label value", raw: { zones: ["eu west 1a", "b", "c"] }, key: "zones[0]", says: /label value/ },
    { what: "a label key with a space", raw: { labels: { "cost center": "x" } }, key: "labels.cost center", says: /not a Kubernetes label key/ },
    { what: "a label value too long", raw: { labels: { team: "x".repeat(64) } }, key: "labels.team", says: /not a Kubernetes label value/ },
    { what: "a label overriding a recommended label", raw: { labels: { "app.kubernetes.io/instance": "other" } }, key: "labels.app.kubernetes.io/instance", says: /recommended label/ },
    { what: 'clusterDomain "."', raw: { gateway: { clusterDomain: "." } }, key: "gateway.clusterDomain", says: /DNS-1123 subdomain/ },
    { what: "an annotation key with a space", raw: { objectStorage: { serviceAccountAnnotations: { "role arn": "x" } } }, key: "objectStorage.serviceAccountAnnotations.role arn", says: /annotation key/ },
    { what: "a GPU node selector key that is no label key", raw: { modelService: { gpu: { nodeSelector: { "gpu present?": "true" } } } }, key: "modelService.gpu.nodeSelector.gpu present?", says: /label key/ },
    { what: "a selector label in a network rule that is no label", raw: { securityGroup: { extraRules: [{ direction: "egress", port: 5432, podSelector: { "a b": "c" }, description: "db" }] } }, key: "securityGroup.extraRules[0].podSelector.a b", says: /label key/ },
    // Mutable tags other than latest
    { what: "an image on the stable tag", raw: { slots: { blue: { image: "nvcr.io/nvidia/tritonserver:stable" } } }, key: "slots.blue.image", says: /mutable tag "stable"/ },
    { what: "an image on Latest (another case)", raw: { gateway: { image: "docker.io/library/haproxy:Latest" } }, key: "gateway.image", says: /mutable tag "Latest"/ },
    { what: "an image tag naming no version", raw: { cluster: { mode: "none" }, server: { ...server, image: "nvcr.io/nvidia/tritonserver:bookworm" }, securityGroup: { sshCidrs: ["198.51.100.0/24"] } }, key: "server.image", says: /mutable tag "bookworm"/ },
    // One object-store key
    { what: "only the access key id", raw: { objectStorageAccessKeyId: "set" }, key: "objectStorageSecretAccessKey", says: /objectStorageAccessKeyId is set but objectStorageSecretAccessKey is not/ },
    { what: "only the secret access key", raw: { objectStorageSecretAccessKey: "set" }, key: "objectStorageAccessKeyId", says: /objectStorageSecretAccessKey is set but objectStorageAccessKeyId is not/ },
    // Safe defaults
    { what: "a server without sshCidrs", raw: { cluster: { mode: "none" }, server }, key: "securityGroup.sshCidrs", says: /no default: 0.0.0.0\/0/ },
    {
        what: "prod SSH from the whole internet",
        raw: { ...stackFileRaw("prod"), server, securityGroup: { sshCidrs: ["198.51.100.0/24", "0.0.0.0/0"] } },
        key: "securityGroup.sshCidrs[1]",
        says: /prod refuses SSH from 0.0.0.0\/0/,
    },
    {
        what: "an extra rule opening 22 wider than sshCidrs",
        raw: { cluster: { mode: "none" }, server, securityGroup: { sshCidrs: ["198.51.100.0/24"], extraRules: [{ direction: "ingress", port: 20, toPort: 25, cidrs: ["0.0.0.0/0"], description: "oops" }] } },
        key: "securityGroup.extraRules[0].cidrs",
        says: /opens the SSH port 22 to 0.0.0.0\/0, wider than securityGroup.sshCidrs/,
    },
    { what: "prod with the gateway disabled", raw: { ...stackFileRaw("prod"), gateway: { enabled: false } }, key: "gateway.enabled", says: /otherEntryPoint/ },
    {
        what: "the gateway on, and the model service opened to other namespaces",
        raw: { securityGroup: { serviceNamespaces: ["ingress-nginx"] } },
        key: "securityGroup.serviceNamespaces",
        says: /only the gateway reaches the model service/,
    },
    {
        what: "the gateway on, and an extra rule opening Triton's pods",
        raw: { securityGroup: { extraRules: [{ direction: "ingress", port: 8001, cidrs: ["10.0.0.0/8"], description: "gRPC" }] } },
        key: "securityGroup.extraRules[0]",
        says: /past the token checks/,
    },
    { what: "a route upstream at the metadata service", raw: { gateway: { routes: [route({ path: "/x", upstream: { host: "169.254.169.254", port: 80 } })] } }, key: "gateway.routes[0].upstream.host", says: /metadata/ },
    { what: "a route upstream at 169.254.169.254 in decimal", raw: { gateway: { routes: [route({ path: "/x", upstream: { host: "2852039166", port: 80 } })] } }, key: "gateway.routes[0].upstream.host", says: /dotted-decimal/ },
    { what: "a prefix route to Triton that takes its admin API", raw: { gateway: { routes: [route({ match: "prefix", path: "/v2/" })] } }, key: "gateway.routes[0].path", says: /matches Triton's admin API \(\/v2\/repository\/index\)/ },
    { what: "an exact route to Triton's model config", raw: { gateway: { routes: [route({ path: "/v2/models/dialogue/config" })] } }, key: "gateway.routes[0].path", says: /admin API/ },
    {
        what: "a regex route to Triton that takes a model's load API",
        raw: { models: [{ name: "chat" }], gateway: { routes: [route({ match: "regex", path: "^/v2/repository/models/[a-z]+/(load|unload)$" })] } },
        key: "gateway.routes[0].path",
        says: /\/v2\/repository\/models\/chat\/load/,
    },
    {
        what: "an ingress snippet annotation",
        raw: { gateway: { exposure: { kind: "ingress", annotations: { "nginx.ingress.kubernetes.io/configuration-snippet": "rewrite ^ /v2/repository/index;" } } } },
        key: "gateway.exposure.annotations.nginx.ingress.kubernetes.io/configuration-snippet",
        says: /snippet annotation/,
    },
];

describe("the definition refuses what generated text cannot hold, and unsafe defaults, naming the key", () => {
    it.each(refused)("$what", ({ raw, key, says }) => {
        const r = parseDefinition(raw, ctx);
        expect(r.ok).toBe(false);
        const issues = r.ok ? [] : r.issues;
        const hit = issues.find((i) => i.key === `${PROJECT}:${key}`);
        expect(hit, issues.map((i) => `${i.key}: ${i.message}`).join("\n")).toBeDefined();
        expect(hit!.message).toMatch(says);
    });

    it("never quotes a secret value in the object-store message (only which key is set)", () => {
        const r = parseDefinition({ objectStorageAccessKeyId: "AKIAEXAMPLEVALUE123" }, ctx);
        expect(JSON.stringify(r)).not.toContain("AKIAEXAMPLEVALUE123");
    });

    it("accepts the values the rules are not about: multi-line CA bundles, opt-in folders, valid labels, both keys, named entry points", () => {
        const ok = [
            { cluster: { mode: "render", directory: "out/manifests/<stack>" } },
            { cluster: { mode: "render", directory: "/srv/secured/manifests", allowOutsideProject: true } },
            { cluster: { mode: "kubeconfig", kubeconfig: "apiVersion: v1\nkind: Config\n\tclusters: []\n" } },
            { logSink: { caBundle: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" } },
            { labels: { "example.com/team": "dialogue-bot", cost_center: "" } },
            { zones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"] },
            { objectStorageAccessKeyId: "set", objectStorageSecretAccessKey: "set" },
            { gateway: { clusterDomain: "cluster.local", routes: [route({ path: "/x", upstream: { host: "dialogue-app.bots.svc.cluster.local", port: 8080 } })] } },
            // A broad route is fine to another upstream (the dialogue application's own API).
            { gateway: { routes: [route({ match: "prefix", path: "/", upstream: { host: "dialogue-app", port: 8080 } })] } },
            { cluster: { mode: "none" }, server: { ...server, modelRepository: "/srv/models" }, securityGroup: { sshCidrs: ["198.51.100.0/24"] } },
            { ...stackFileRaw("prod"), gateway: { enabled: false, otherEntryPoint: "api.corp.example: Kong with the jwt plugin" } },
        ];
        for (const raw of ok) {
            const r = parseDefinition(raw, ctx);
            expect(r.ok ? [] : r.issues, JSON.stringify(raw)).toEqual([]);
        }
    });

    it("keeps the repository's own stacks valid", () => {
        for (const stack of ["dev", "prod", "server"]) {
            const r = parseDefinition(stackFileRaw(stack), { project: PROJECT, stack });
            expect(r.ok ? [] : r.issues, stack).toEqual([]);
        }
    });
});

describe("the pure checks behind those rules", () => {
    it("renderDirectoryIssue: inside the project unless opted out, never a system folder", () => {
        expect(renderDirectoryIssue("out/manifests/<stack>", false)).toBeUndefined();
        expect(renderDirectoryIssue("out/../out/x", false)).toBeUndefined();
        expect(renderDirectoryIssue("out/../../x", false)).toMatch(/climbs out/);
        expect(renderDirectoryIssue("out/../../x", true)).toBeUndefined();
        expect(renderDirectoryIssue("/", true)).toMatch(/system folder/);
        expect(renderDirectoryIssue("/usr/local/share/x", true)).toMatch(/system folder/);
    });

    it("modelRepositoryIssue: a folder of its own", () => {
        expect(modelRepositoryIssue("/var/lib/triton-platform/models")).toBeUndefined();
        expect(modelRepositoryIssue("/srv/models")).toBeUndefined();
        for (const bad of ["/", "/etc", "/etc/triton-platform", "/etc/triton-platform/secrets/model-server", "/var/lib/docker/volumes/x", "/proc/1", "/srv/./models", "/srv//models", "/srv/models/"]) {
            expect(modelRepositoryIssue(bad), bad).toBeDefined();
        }
    });

    it("upstreamHostIssue: never link-local, a metadata service or an ambiguous address form", () => {
        for (const bad of ["169.254.169.254", "169.254.0.1", "100.100.100.200", "fe80::1", "fd00:ec2::254", "::ffff:169.254.169.254", "metadata.google.internal", "metadata", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518", "010.0.0.1", ":::"]) {
            expect(upstreamHostIssue(bad), bad).toBeDefined();
        }
        for (const good of ["10.0.0.7", "127.0.0.1", "::1", "2001:db8::5", "dialogue-app", "dialogue-app.bots.svc.cluster.local", "1e100.example.net"]) {
            expect(upstreamHostIssue(good), good).toBeUndefined();
        }
    });
});
