// Builds the dialogue service's OCI image from this repository's source, without a Docker engine or a
// registry: scripts/build-dialogue-image.sh calls it with the Debian root file system (scripts/rootfs.sh:
// Debian 12 + nodejs + ca-certificates) as the base layer. Layer 2 is the service: services/dialogue and
// components/envelope transpiled to JavaScript (sucrase, as tools/ts-loader.js does, so no transpiler
// runs in the container), the production dependencies it imports, and the non-root `dialogue` user.
// Every tar is written with sorted names, mtime 0 and owner 0 and gzip without a name or time, so the
// same inputs give the same digest. Output: an OCI image layout archive; prints its digest reference.
//
// Usage: node scripts/build-dialogue-image.mjs <rootfs.tar> <out.oci.tar> <repository> <tag>
import { execFileSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import { createRequire } from "module";
import * as os from "os";
import * as path from "path";

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const [rootfsTar, outFile, repository, tag] = process.argv.slice(2);
if (!rootfsTar || !outFile || !repository || !tag) {
    console.error("usage: build-dialogue-image.mjs <rootfs.tar> <out.oci.tar> <repository> <tag>");
    process.exit(2);
}
/** uid/gid of the service user (components/dialogue/config.ts DIALOGUE_UID). */
const UID = 10001;
/** The packages the service imports at run time; their own dependencies follow. */
const RUNTIME_PACKAGES = ["ws", "ioredis", "prom-client", "zod"];

const work = fs.mkdtempSync(path.join(os.tmpdir(), "dialogue-image-"));
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

function deterministicTar(dir, out) {
    execFileSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "--format=posix", "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime", "-C", dir, "-cf", out, "."]);
}

// ---- layer 2: the service
const app = path.join(work, "layer");
const srv = path.join(app, "srv", "dialogue");
const { transform } = require(path.join(ROOT, "node_modules", "sucrase"));
for (const folder of ["services/dialogue", "components/envelope"]) {
    for (const f of fs.readdirSync(path.join(ROOT, folder)).filter((n) => n.endsWith(".ts"))) {
        const code = transform(fs.readFileSync(path.join(ROOT, folder, f), "utf8"), { transforms: ["typescript", "imports"], disableESTransforms: true, filePath: f }).code;
        fs.mkdirSync(path.join(srv, folder), { recursive: true });
        fs.writeFileSync(path.join(srv, folder, f.replace(/\.ts$/, ".js")), code);
    }
}
fs.writeFileSync(
    path.join(srv, "main.js"),
    '"use strict";\n// The image\'s entry point: the transpiled service (scripts/build-dialogue-image.mjs).\nrequire("./services/dialogue/main.js").main().catch((e) => {\n    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: "error", event: "start_failed", detail: e.message })}\\n`);\n    process.exit(1);\n});\n',
);
// Production dependencies: the packages above and, recursively, what their package.json names.
const seen = new Set();
const queue = [...RUNTIME_PACKAGES];
while (queue.length > 0) {
    const name = queue.shift();
    if (seen.has(name)) continue;
    seen.add(name);
    const dir = path.join(ROOT, "node_modules", name);
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    fs.cpSync(dir, path.join(srv, "node_modules", name), { recursive: true, dereference: true, filter: (src) => !/\/(test|tests|docs?|\.github)$/.test(src) && !src.endsWith(".md") && !src.endsWith(".map") });
    queue.push(...Object.keys(pkg.dependencies ?? {}));
}
fs.writeFileSync(path.join(srv, "package.json"), JSON.stringify({ name: "triton-platform-dialogue", private: true, version: tag, dependencies: Object.fromEntries([...seen].sort().map((n) => [n, require(path.join(ROOT, "node_modules", n, "package.json")).version])) }, null, 2) + "\n");
// The non-root user, added to the base's account files.
fs.mkdirSync(path.join(app, "etc"), { recursive: true });
for (const [file, line] of [
    ["etc/passwd", `dialogue:x:${UID}:${UID}:dialogue service:/nonexistent:/usr/sbin/nologin\n`],
    ["etc/group", `dialogue:x:${UID}:\n`],
]) {
    const base = execFileSync("tar", ["-xOf", rootfsTar, `./${file}`]).toString();
    fs.writeFileSync(path.join(app, file), base.replace(/\n?$/, "\n") + line);
}
for (const p of execFileSync("find", [app]).toString().trim().split("\n")) {
    fs.chmodSync(p, fs.statSync(p).isDirectory() ? 0o755 : 0o644);
}
const appTar = path.join(work, "app.tar");
deterministicTar(app, appTar);

// ---- the OCI layout
const layout = path.join(work, "oci");
const blobs = path.join(layout, "blobs", "sha256");
fs.mkdirSync(blobs, { recursive: true });
const writeBlob = (buf) => {
    const d = sha256(buf);
    fs.writeFileSync(path.join(blobs, d), buf);
    return { digest: `sha256:${d}`, size: buf.length };
};
const layers = [];
const diffIds = [];
for (const t of [rootfsTar, appTar]) {
    const raw = fs.readFileSync(t);
    diffIds.push(`sha256:${sha256(raw)}`);
    const gz = execFileSync("gzip", ["-n", "-6", "-c"], { input: raw, maxBuffer: 1 << 30 });
    layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...writeBlob(gz) });
}
const config = {
    architecture: "amd64",
    os: "linux",
    created: "1970-01-01T00:00:00Z",
    config: {
        User: `${UID}:${UID}`,
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NODE_ENV=production"],
        Entrypoint: ["/usr/bin/node", "/srv/dialogue/main.js"],
        WorkingDir: "/srv/dialogue",
        ExposedPorts: { "8080/tcp": {}, "8405/tcp": {} },
        StopSignal: "SIGTERM",
        Labels: { "org.opencontainers.image.title": "triton-platform dialogue service", "org.opencontainers.image.version": tag },
    },
    rootfs: { type: "layers", diff_ids: diffIds },
    history: [{ created_by: "scripts/rootfs.sh (Debian packages)" }, { created_by: "scripts/build-dialogue-image.mjs (services/dialogue)" }],
};
const configBlob = writeBlob(Buffer.from(JSON.stringify(config)));
const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", ...configBlob }, layers }),
);
const manifestBlob = writeBlob(manifest);
fs.writeFileSync(path.join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
fs.writeFileSync(
    path.join(layout, "index.json"),
    JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifestBlob, annotations: { "org.opencontainers.image.ref.name": tag, "io.containerd.image.name": `${repository}:${tag}` } }],
    }),
);
// The same blobs as a `docker save` archive too: Docker before 25 (Debian 12's docker.io is 20.10, what the
// lightweight server installs) loads only archives with a manifest.json and fails on a bare OCI layout
// ("open .../blobs/json: no such file or directory"). Docker 25+ writes both files into one archive as
// well; OCI tools (ctr, skopeo) read index.json and ignore this one.
fs.writeFileSync(
    path.join(layout, "manifest.json"),
    JSON.stringify([{ Config: `blobs/sha256/${configBlob.digest.slice("sha256:".length)}`, RepoTags: [`${repository}:${tag}`], Layers: layers.map((l) => `blobs/sha256/${l.digest.slice("sha256:".length)}`) }]),
);
fs.mkdirSync(path.dirname(path.resolve(outFile)), { recursive: true });
deterministicTar(layout, path.resolve(outFile));
fs.rmSync(work, { recursive: true, force: true });
// manifest digest (what a registry reference pins) and config digest (Docker's image ID after a load)
process.stdout.write(`${repository}@${manifestBlob.digest}\nimage-id ${configBlob.digest}\n`);
