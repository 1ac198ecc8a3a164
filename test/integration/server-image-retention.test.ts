// R16 on the server: the image retention script (components/model-service/server-releases.ts) keeps the recorded releases
// and removes the model server's older images, run with bash against a fake `docker` that lists and removes
// images from a file (the real engine: test/e2e/server.test.ts).
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterEach, describe, expect, it } from "vitest";
import { imageRetentionScript, listedImage } from "../../components/model-service/server-releases";

const temps: string[] = [];
afterEach(() => temps.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A folder with a fake docker: `image ls --format ... REPO` reads images.txt, `image rm REF` deletes a line (refuses in-use.txt's). */
function fakeDocker(images: string[], inUse: string[] = []): { dir: string; images: () => string[] } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "retention-"));
    temps.push(dir);
    fs.writeFileSync(path.join(dir, "images.txt"), images.map((i) => `${i}\n`).join(""));
    fs.writeFileSync(path.join(dir, "in-use.txt"), inUse.map((i) => `${i}\n`).join(""));
    fs.writeFileSync(
        path.join(dir, "docker"),
        `#!/usr/bin/env bash
set -eu
d=${JSON.stringify(dir)}
case "$1 $2" in
  "image ls")
    repo="\${@: -1}"
    while read -r ref; do
      r="\${ref%:*}"; t="\${ref##*:}"
      [[ "$r" == "$repo" ]] && echo "$r:$t $r@<none>"
    done <"$d/images.txt"
    ;;
  "image rm")
    if grep -qxF "$3" "$d/in-use.txt"; then echo "conflict: in use" >&2; exit 1; fi
    grep -vxF "$3" "$d/images.txt" >"$d/images.new" || true
    mv "$d/images.new" "$d/images.txt"
    ;;
  *) echo "unexpected docker $*" >&2; exit 2 ;;
esac
`,
        { mode: 0o755 },
    );
    return { dir, images: () => fs.readFileSync(path.join(dir, "images.txt"), "utf8").split("\n").filter(Boolean).sort() };
}

const run = (dir: string, script: string) => spawnSync("bash", ["-c", script], { encoding: "utf8", env: { PATH: `${dir}:/usr/bin:/bin` } });

describe("imageRetentionScript", () => {
    const releases = ["nvcr.io/nvidia/tritonserver:24.08-py3", "nvcr.io/nvidia/tritonserver:24.05-py3", "nvcr.io/nvidia/tritonserver:23.12-py3"];

    it("passes shellcheck", () => {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "retention-sc-")), "s.sh");
        temps.push(path.dirname(file));
        fs.writeFileSync(file, imageRetentionScript(releases));
        expect(execFileSync("shellcheck", ["-s", "bash", file], { encoding: "utf8" })).toBe("");
    });

    it("keeps the last three releases, removes older images of that repository, and touches no other repository", () => {
        const docker = fakeDocker([...releases, "nvcr.io/nvidia/tritonserver:23.10-py3", "nvcr.io/nvidia/tritonserver:23.08-py3", "haproxy:2.8.14-alpine", "localhost/otelcol-logsink:0.130.0"]);
        const r = run(docker.dir, imageRetentionScript(releases));
        expect(r.status, r.stderr).toBe(0);
        expect(docker.images()).toEqual([...releases, "haproxy:2.8.14-alpine", "localhost/otelcol-logsink:0.130.0"].sort());
        expect(r.stdout).toMatch(/removed nvcr\.io\/nvidia\/tritonserver:23\.10-py3 \(not among the last 3 releases\)/);
        expect(r.stdout).toMatch(/2 older image\(s\) removed/);
        const again = run(docker.dir, imageRetentionScript(releases));
        expect(again.stdout).toMatch(/0 older image\(s\) removed/);
    });

    it("leaves an image a container still uses, and says so", () => {
        const docker = fakeDocker([...releases, "nvcr.io/nvidia/tritonserver:23.08-py3"], ["nvcr.io/nvidia/tritonserver:23.08-py3"]);
        const r = run(docker.dir, imageRetentionScript(releases));
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/kept nvcr\.io\/nvidia\/tritonserver:23\.08-py3: a container still uses it/);
        expect(docker.images()).toContain("nvcr.io/nvidia/tritonserver:23.08-py3");
    });

    it("compares images as Docker lists them (Docker Hub without docker.io/library/), and refuses more than three", () => {
        expect(listedImage("docker.io/library/tritonserver:1")).toEqual({ reference: "tritonserver:1", repository: "tritonserver" });
        const docker = fakeDocker(["tritonserver:1", "tritonserver:0"]);
        run(docker.dir, imageRetentionScript(["docker.io/library/tritonserver:1"]));
        expect(docker.images()).toEqual(["tritonserver:1"]);
        expect(() => imageRetentionScript([...releases, "nvcr.io/nvidia/tritonserver:23.08-py3"])).toThrow(/between 1 and 3 releases/);
    });
});
