// The app.kubernetes.io/version label every workload carries comes from one function: operators filter
// `kubectl get pods -l app.kubernetes.io/version=...` by it, so tags and digests must give the same
// answer in every component.
import { describe, expect, it } from "vitest";
import { labelValue } from "../../kit/labels";
import { imageVersion } from "../../kit/image-ref";

const DIGEST = "sha256:" + "ab12".repeat(16);

describe("imageVersion", () => {
    it("is the tag of a tagged reference, with or without a registry port", () => {
        expect(imageVersion("nvcr.io/nvidia/tritonserver:24.01-py3")).toBe("24.01-py3");
        expect(imageVersion("localhost:5000/triton:2.51.0")).toBe("2.51.0");
        expect(imageVersion("registry.example.com:5000/team/haproxy")).toBeUndefined();
    });

    it("keeps the tag when a digest pins it, and names the digest when there is no tag", () => {
        expect(imageVersion(`docker.io/otel/opentelemetry-collector-contrib:0.120.0@${DIGEST}`)).toBe("0.120.0");
        expect(imageVersion(`quay.io/prometheus/node-exporter@${DIGEST}`)).toBe("sha256-ab12ab12ab12");
    });

    it("gives a valid label value in every case, and nothing for what is not a reference", () => {
        for (const ref of ["nvcr.io/nvidia/tritonserver:24.01-py3", `quay.io/x/y@${DIGEST}`, `a/b:1.2.3@${DIGEST}`]) {
            const v = imageVersion(ref)!;
            expect(labelValue(v)).toBe(v);
        }
        expect(imageVersion("Not A Reference")).toBeUndefined();
    });
});
