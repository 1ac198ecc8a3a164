// The text detectors behind the secrets and server policies.
import { describe, expect, it } from "vitest";
import {
    acceptedInboundPorts,
    dockerPublishedPorts,
    findSecretLiterals,
    findTokens,
    hasInboundDefaultDrop,
    hasPublishedPortFilter,
    isLiteralSecretValue,
    isSecretKey,
    sshdDirectiveValues,
} from "../lib/text";

describe("secret detection", () => {
    it.each(["JWT_SECRET", "apiKey", "db-password", "AWS_SECRET_ACCESS_KEY", "--token", "client_secret", "PASSPHRASE"])("treats %s as a secret key", (k) => {
        expect(isSecretKey(k)).toBe(true);
    });

    it.each(["PASSWORD_FILE", "secretName", "TOKEN_URL", "max_tokens", "AWS_ACCESS_KEY_ID", "PasswordAuthentication", "--password-stdin", "tokenizer", "bypass"])(
        "does not treat %s as a secret key",
        (k) => {
            expect(isSecretKey(k)).toBe(false);
        },
    );

    it.each(["$TOKEN", "${TOKEN}", "$(cat /run/secrets/x)", "/run/secrets/token", "<your-token>", "true", "***", "{{ .Values.key }}", ""])("does not treat %j as a literal", (v) => {
        expect(isLiteralSecretValue(v)).toBe(false);
    });

    it("finds credential formats anywhere in a text", () => {
        const text = [
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "AKIAABCDEFGHIJKLMNOP",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
            "curl https://user:hunter22@example.com/",
        ].join("\n");
        expect(findTokens(text).map((f) => f.what)).toEqual(["a PEM private key", "an AWS access key id", "a JSON Web Token", "credentials in a URL"]);
        expect(findTokens("curl https://$USER:$PASS@example.com/ -H 'Authorization: Bearer $TOKEN'")).toEqual([]);
    });

    it("finds assignments and options with literal secrets, not references", () => {
        const script = [
            'export API_KEY="abc123def456"',
            "mysql --password hunter22",
            "app --token=$(cat /run/secrets/token)",
            'TOKEN="$TOKEN"',
            "echo \"$KEY\" | docker login --password-stdin nvcr.io",
            "password: hunter22",
        ].join("\n");
        expect(findSecretLiterals(script).map((f) => f.what)).toEqual([
            'a literal value for key "API_KEY"',
            'a literal value for key "password"',
            'a literal value for option "--password"',
        ]);
    });

    it("never returns the matched value", () => {
        const found = findSecretLiterals("export JWT_SECRET=CANARY-value-123 && curl -H 'Authorization: Bearer CANARYCANARYCANARYCANARY'");
        expect(found.length).toBe(2);
        expect(JSON.stringify(found)).not.toContain("CANARY");
    });
});

describe("firewall parsing", () => {
    const nft = (input: string, rest = "") => `table inet t {\n chain input {\n  type filter hook input priority filter; policy drop;\n${input}\n }\n${rest}}\n`;

    it("sees the input hook's default policy", () => {
        expect(hasInboundDefaultDrop(nft(""))).toBe(true);
        expect(hasInboundDefaultDrop(nft("").replace("policy drop", "policy accept"))).toBe(false);
        expect(hasInboundDefaultDrop("table inet t { chain forward { type filter hook forward priority 0; policy drop; } }")).toBe(false);
        expect(hasInboundDefaultDrop("iptables -w -P INPUT DROP")).toBe(true);
    });

    it("collects accepted ports through jumps, sets and ranges, ignoring comments and quoted strings", () => {
        const text = nft(
            '  iif "lo" accept\n  ct state established,related accept\n  tcp dport { 22, 80 } accept comment "accept 9999"\n  jump extra\n  log prefix "accept everything"',
            " chain extra {\n  meta l4proto udp ct original proto-dst 5000-5002 accept\n }\n",
        );
        expect(acceptedInboundPorts(text)).toEqual([
            { protocol: "tcp", range: { from: 22, to: 22 } },
            { protocol: "tcp", range: { from: 80, to: 80 } },
            { protocol: "udp", range: { from: 5000, to: 5002 } },
        ]);
    });

    it("treats an accept without a port as every port, and a named set as unverifiable", () => {
        expect(acceptedInboundPorts(nft("  ip saddr 10.0.0.0/8 accept"))).toEqual([{ protocol: "any", range: "all" }]);
        expect(acceptedInboundPorts(nft("  tcp dport @allowed accept"))).toEqual([{ protocol: "tcp", range: "unparsed" }]);
    });

    it("does not count chains the input hook never reaches", () => {
        expect(acceptedInboundPorts(nft("", " chain unused {\n  tcp dport 3306 accept\n }\n"))).toEqual([]);
    });

    it("recognises DOCKER-USER and an early forward chain as published-port filters", () => {
        expect(hasPublishedPortFilter("iptables -I DOCKER-USER -i eth0 -j DROP")).toBe(true);
        expect(hasPublishedPortFilter("table ip filter { chain DOCKER-USER { ct original proto-dst 18789 accept; drop } }")).toBe(true);
        expect(hasPublishedPortFilter("table inet t { chain f { type filter hook forward priority filter - 1; policy accept; ct status dnat drop } }")).toBe(true);
        // At Docker's own priority the chain runs after Docker's accept: not a filter.
        expect(hasPublishedPortFilter("table inet t { chain f { type filter hook forward priority filter; policy accept; ct status dnat drop } }")).toBe(false);
        expect(hasPublishedPortFilter('table inet t { chain f { type filter hook forward priority -1; policy accept; ct status dnat log prefix "drop" } }')).toBe(false);
    });

    it("reads docker run publications and compose port lists", () => {
        expect(dockerPublishedPorts("docker run -d \\\n  -p 18789:8000 -p 127.0.0.1:9000:9000 --publish=[::1]:81:80 -p8001 img:1")).toEqual([
            { hostPort: 18789, loopback: false },
            { hostPort: 9000, loopback: true },
            { hostPort: 81, loopback: true },
            { hostPort: undefined, loopback: false },
        ]);
        expect(dockerPublishedPorts('services:\n  triton:\n    image: x:1\n    ports:\n      - "18789:8000"\n      - 8002\n')).toEqual([
            { hostPort: 18789, loopback: false },
            { hostPort: undefined, loopback: false },
        ]);
        expect(dockerPublishedPorts("docker pull img:1 && echo -p 22:22")).toEqual([]);
    });

    it("reads sshd directives, ignoring comments and sed search patterns", () => {
        const text = "#PermitRootLogin yes\nsed -i 's/^PermitRootLogin yes/PermitRootLogin no/' /etc/ssh/sshd_config\necho 'PasswordAuthentication no' > f";
        expect(sshdDirectiveValues(text, "PermitRootLogin")).toEqual(["no"]);
        expect(sshdDirectiveValues(text, "PasswordAuthentication")).toEqual(["no"]);
    });
});
