// The app.kubernetes.io/version label every workload carries comes from one function: operators filter
// `kubectl get pods -l app.kubernetes.io/version=...` by it, so tags and digests must give the same
// answer in every component, on Kubernetes and on the lightweight server.
import { describe, expect, it } from "vitest";
import { labelValue } from "../../kit/labels";
import { imageVersion } from "../../kit/image-ref";
import { loadDefinition, readSecrets } from "../../stack/definition";
import { deployPlatform } from "../../stack/program";
import { stackDefinition } from "../support/definitions";
import { one, PROJECT, runMocked, stackFileConfig } from "../support/harness";

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

describe("the version label on both targets", () => {
    // A digest-only release: the label operators filter by is the same on the server's containers as on
    // the cluster's pods (before, the server's containers got none for such an image).
    const TRITON = `nvcr.io/nvidia/tritonserver@${DIGEST}`;
    const HAPROXY = `docker.io/library/haproxy@${DIGEST}`;
    const versionOf = (labels: { label: string; value: string }[]) => labels.find((l) => l.label === "app.kubernetes.io/version")?.value;

    it("labels the server's Triton and gateway containers with imageVersion(), as the Kubernetes workloads", async () => {
        const config = stackFileConfig("server");
        config[`${PROJECT}:slots`] = JSON.stringify({ blue: { image: TRITON }, green: { image: "nvcr.io/nvidia/tritonserver:23.12-py3" } });
        config[`${PROJECT}:gateway`] = JSON.stringify({ enabled: true, image: HAPROXY });
        const run = await runMocked(() => deployPlatform(loadDefinition(), readSecrets()), { stack: "server", config });
        const container = (name: string) => one(run, "docker:index/container:Container", name);
        expect(versionOf(container("server-model-server-blue").inputs.labels)).toBe("sha256-ab12ab12ab12");
        expect(versionOf(container("server-model-server-green").inputs.labels)).toBe("23.12-py3");
        expect(versionOf(container("server-gateway").inputs.labels)).toBe("sha256-ab12ab12ab12");
        expect(versionOf(container("server-log-shipper").inputs.labels)).toBe(imageVersion(stackDefinition("server").logSink.image));
    });
});
