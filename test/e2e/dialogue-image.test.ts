// The dialogue service's image, built from this repository by scripts/build-dialogue-image.sh (Debian
// root file system from scripts/rootfs.sh + the transpiled service), without a Docker engine: the same
// inputs give the same digest, the OCI layout is consistent, and its entry point runs as the image's
// non-root user from its own two layers (a chroot of them) and answers its probes.
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/ports";

const ROOT = path.resolve(__dirname, "../..");
let work: string;
let service: ChildProcess | undefined;
const built: { ref: string; imageId: string }[] = [];

function build(out: string): { ref: string; imageId: string } {
    const r = spawnSync("bash", [path.join(ROOT, "scripts", "build-dialogue-image.sh"), out], { encoding: "utf8", timeout: 20 * 60_000 });
    if (r.status !== 0) {
        throw new Error(`scripts/build-dialogue-image.sh failed (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
    }
    const lines = r.stdout.trim().split("\n");
    return { ref: lines[0], imageId: lines[1].replace(/^image-id /, "") };
}

const blob = (layout: string, digest: string) => fs.readFileSync(path.join(layout, "blobs", "sha256", digest.replace(/^sha256:/, "")));

beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "dialogue-image-"));
    built.push(build(path.join(work, "a.oci.tar")), build(path.join(work, "b.oci.tar")));
}, 40 * 60_000);

afterAll(async () => {
    if (service?.pid !== undefined && service.exitCode === null && service.signalCode === null) {
        const exited = new Promise((r) => service!.once("exit", r));
        service.kill("SIGTERM");
        await exited;
    }
    fs.rmSync(work, { recursive: true, force: true });
});

describe("the dialogue image", () => {
    it("is reproducible: two builds of the same source give the same manifest digest and image id", () => {
        expect(built[0].ref).toMatch(/^localhost\/triton-platform\/dialogue@sha256:[0-9a-f]{64}$/);
        expect(built[1]).toEqual(built[0]);
        expect(createHash("sha256").update(fs.readFileSync(path.join(work, "a.oci.tar"))).digest("hex")).toBe(
            createHash("sha256").update(fs.readFileSync(path.join(work, "b.oci.tar"))).digest("hex"),
        );
    });

    it("is a consistent OCI layout: the printed digest is the manifest's, the image id its config's, every blob matches its name", () => {
        const layout = path.join(work, "layout");
        fs.mkdirSync(layout);
        execFileSync("tar", ["-xf", path.join(work, "a.oci.tar"), "-C", layout]);
        const index = JSON.parse(fs.readFileSync(path.join(layout, "index.json"), "utf8"));
        const manifestDigest: string = index.manifests[0].digest;
        expect(built[0].ref.endsWith(manifestDigest)).toBe(true);
        const manifest = JSON.parse(blob(layout, manifestDigest).toString());
        expect(manifest.config.digest).toBe(built[0].imageId);
        for (const d of [manifestDigest, manifest.config.digest, ...manifest.layers.map((l: { digest: string }) => l.digest)]) {
            expect(`sha256:${createHash("sha256").update(blob(layout, d)).digest("hex")}`).toBe(d);
        }
        const config = JSON.parse(blob(layout, manifest.config.digest).toString());
        expect(config.config).toMatchObject({ User: "10001:10001", Entrypoint: ["/usr/bin/node", "/srv/dialogue/main.js"] });
        expect(manifest.layers).toHaveLength(2);
        // The same image as a `docker save` archive (manifest.json), which Docker before 25 needs to load it:
        // the same config and layer blobs, and the tag Docker gives the loaded image.
        const dockerManifest = JSON.parse(fs.readFileSync(path.join(layout, "manifest.json"), "utf8"));
        const blobPath = (d: string) => `blobs/sha256/${d.replace(/^sha256:/, "")}`;
        expect(dockerManifest).toEqual([
            {
                Config: blobPath(manifest.config.digest),
                RepoTags: [`localhost/triton-platform/dialogue:${JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version}`],
                Layers: manifest.layers.map((l: { digest: string }) => blobPath(l.digest)),
            },
        ]);
    });

    it("runs its entry point as uid 10001 from its own layers and answers the probes", async () => {
        const layout = path.join(work, "layout");
        const manifest = JSON.parse(blob(layout, JSON.parse(fs.readFileSync(path.join(layout, "index.json"), "utf8")).manifests[0].digest).toString());
        const rootfs = path.join(work, "rootfs");
        fs.mkdirSync(rootfs);
        for (const l of manifest.layers as { digest: string }[]) {
            execFileSync("tar", ["-xzf", path.join(layout, "blobs", "sha256", l.digest.replace(/^sha256:/, "")), "-C", rootfs]);
        }
        const [port, admin] = [await freePort(), await freePort()];
        fs.mkdirSync(path.join(rootfs, "etc", "dialogue"), { recursive: true });
        fs.mkdirSync(path.join(rootfs, "run", "secrets", "dialogue"), { recursive: true });
        fs.writeFileSync(path.join(rootfs, "run", "secrets", "dialogue", "hmac-key"), "image-test-hmac-key-0123456789abcdef0123", { mode: 0o644 });
        fs.writeFileSync(
            path.join(rootfs, "etc", "dialogue", "config.json"),
            JSON.stringify({ listen: { host: "127.0.0.1", port }, admin: { host: "127.0.0.1", port: admin }, tritonUrl: "http://127.0.0.1:9", hmacKeyFile: "/run/secrets/dialogue/hmac-key", store: { kind: "memory" } }),
        );
        let log = "";
        service = spawn("/usr/sbin/chroot", ["--userspec=10001:10001", rootfs, "/usr/bin/node", "/srv/dialogue/main.js"], { env: { DIALOGUE_CONFIG: "/etc/dialogue/config.json", PATH: "/usr/bin:/bin" }, stdio: ["ignore", "pipe", "pipe"] });
        service.stdout!.on("data", (d) => (log += d));
        service.stderr!.on("data", (d) => (log += d));
        let health = 0;
        for (let i = 0; i < 100 && health !== 200; i++) {
            await new Promise((r) => setTimeout(r, 100));
            health = await fetch(`http://127.0.0.1:${admin}/healthz`).then((r) => r.status, () => 0);
        }
        expect(health, log).toBe(200);
        expect((await fetch(`http://127.0.0.1:${port}/chat`)).status).toBe(426);
        const uid = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${service.pid}/status`, "utf8"))?.[1];
        expect(uid).toBe("10001");
        expect(log).toContain('"event":"started"');
    });
});
