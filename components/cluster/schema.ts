// Which Kubernetes cluster the program talks to (config key `cluster`).
import * as path from "path";
import { z } from "zod";
import { bool } from "../../kit/schema";

export const clusterSchema = z.discriminatedUnion("mode", [
    z.strictObject({
        /**
         * Render manifests to a folder instead of calling a cluster (no kubeconfig needed). Secrets are
         * written there in plain text: the folder must stay out of version control.
         */
        mode: z.literal("render"),
        /**
         * Folder, relative to the project; `<stack>` is replaced by the stack name. It must stay inside
         * the project (not the project folder itself): the manifests hold Secrets in plain text, and a
         * path such as `../..` or `/etc` would write them wherever the operator can write.
         */
        directory: z.string().min(1).default("out/manifests/<stack>"),
        /**
         * Opt-in to a `directory` outside the project (absolute, or climbing out with `..`), e.g. an
         * encrypted volume. The folder then holds plain-text Secrets: keep it out of backups and shares.
         * @default false
         */
        allowOutsideProject: bool.optional(),
    }).superRefine((c, ctx) => {
        const issue = renderDirectoryIssue(c.directory, c.allowOutsideProject ?? false);
        if (issue) {
            ctx.addIssue({ code: "custom", path: ["directory"], message: issue });
        }
    }),
    z.strictObject({
        /** Talk to a real cluster. kubeconfig and context fall back to KUBECONFIG and the current context. */
        mode: z.literal("kubeconfig"),
        /** Path to a kubeconfig file, or its contents. Unset: the environment's (KUBECONFIG, ~/.kube/config). */
        kubeconfig: z.string().optional(),
        context: z.string().optional(),
    }),
    z.strictObject({
        /** No Kubernetes at all (the lightweight-server-only stack). */
        mode: z.literal("none"),
    }),
]);
export type ClusterSettings = z.infer<typeof clusterSchema>;

/** Folders render mode never writes to, even with allowOutsideProject: the system's own. */
const SYSTEM_DIRS = ["/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root", "/run", "/sbin", "/sys", "/usr", "/var"];

/**
 * Why a render directory is refused, or undefined. Relative paths must stay inside the project and not
 * be the project folder itself; absolute or climbing paths need `allowOutsideProject`, and never name
 * a system folder or one directly under /etc, /usr, /proc, ... (where a Secret would become config).
 */
export function renderDirectoryIssue(directory: string, allowOutsideProject: boolean): string | undefined {
    const dir = directory.replace(/<stack>/g, "stack");
    const normal = path.posix.normalize(dir.replace(/\\/g, "/"));
    if (path.posix.isAbsolute(normal)) {
        if (!allowOutsideProject) {
            return `"${directory}" is outside the project: render mode writes Secrets in plain text there. Use a folder inside the project (e.g. out/manifests/<stack>), or set cluster.allowOutsideProject: true for a folder you have secured`;
        }
        const system = SYSTEM_DIRS.find((s) => normal === s || normal.replace(/\/+$/, "") === s || (s !== "/" && s !== "/var" && normal.startsWith(`${s}/`)));
        if (system) {
            return `"${directory}" is a system folder (${system}): plain-text Secrets do not belong there, even with allowOutsideProject`;
        }
        return undefined;
    }
    if (normal === "." || normal === "./") {
        return "the project folder itself would receive plain-text Secrets next to the sources: use a git-ignored subfolder such as out/manifests/<stack>";
    }
    if (normal === ".." || normal.startsWith("../")) {
        return allowOutsideProject
            ? undefined
            : `"${directory}" climbs out of the project: render mode writes Secrets in plain text there. Use a folder inside the project, or set cluster.allowOutsideProject: true`;
    }
    return undefined;
}
