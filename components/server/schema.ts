// Settings of the lightweight server (config key `server`): R1-R4, R7, R8, R15. Absent: no server path.
// The SSH private key is not here: it is the secret `serverPrivateKey`, read by readSecrets().
import { z } from "zod";
import { bool, int, pinnedImage, port } from "../../kit/schema";
import { SECRETS_DIR, SERVER_ROOT } from "./scripts";

/**
 * Folders the model repository may not be: the system's own (mounting one into the model container
 * hands it the host's binaries or configuration), anything under /etc, /proc, /sys, /dev, /boot, /root,
 * and the program's key folder (SERVER_ROOT, SECRETS_DIR) or a folder holding it.
 */
const SYSTEM_FOLDERS = ["/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/lib", "/var/lib/docker", "/var/log", "/var/run"];
const SYSTEM_TREES = ["/boot", "/dev", "/etc", "/proc", "/root", "/run", "/sys", "/usr", "/var/lib/docker", "/var/run", "/bin", "/sbin", "/lib"];

/** Largest uid or gid Linux allocates ((uid_t)-1 means "no change" to chown). */
const MAX_ID = 4_294_967_294;

/** Why a model repository folder is refused, or undefined. Pure: tests call it directly. */
export function modelRepositoryIssue(folder: string): string | undefined {
    const segments = folder.split("/").slice(1);
    if (segments.some((s) => s === ".." || s === ".")) {
        return `"${folder}" has a "." or ".." segment: write the folder's own absolute path`;
    }
    if (folder !== "/" && (folder.endsWith("/") || folder.includes("//"))) {
        return `"${folder}" has an empty segment: write it without "//" or a trailing "/"`;
    }
    const within = (tree: string) => folder === tree || folder.startsWith(`${tree}/`);
    if (within(SERVER_ROOT) || SERVER_ROOT.startsWith(`${folder}/`) || SECRETS_DIR.startsWith(`${folder}/`)) {
        return `"${folder}" is or holds the program's own folder ${SERVER_ROOT} (key files under ${SECRETS_DIR}): the model container would read them. Use a folder of its own, e.g. /var/lib/triton-platform/models`;
    }
    if (SYSTEM_FOLDERS.includes(folder) || SYSTEM_TREES.some(within)) {
        return `"${folder}" is a system folder: mounting it would hand the model container the host's files. Use a folder of its own, e.g. /var/lib/triton-platform/models`;
    }
    return undefined;
}

export const serverSchema = z.strictObject({
    /** Host name or address reachable over SSH. */
    host: z
        .string()
        .min(1)
        .regex(/^[A-Za-z0-9.:-]+$/, { error: "expected a host name or an IP address (no user@, no scheme, no port)" }),
    sshPort: port.default(22),
    /** The SSH user: a sudo-capable account. Root cannot be used: the hardening disables root login (R3). */
    user: z
        .string()
        .regex(/^[a-z_][a-z0-9_-]{0,31}$/, { error: "expected a Linux user name" })
        .refine((u) => u !== "root", { error: "R3 disables root login over SSH: connect as a sudo-capable user (e.g. ubuntu)" })
        .default("ubuntu"),
    /** Run privileged steps through `sudo -n` (the user needs password-less sudo). @default true */
    sudo: bool.default(true),
    /**
     * The server's SSH host public key (`ssh-ed25519 AAAA...`, as in `ssh-keyscan`). Set it: without it the
     * first connection trusts whatever key answers (Docker's ssh) or is not checked at all (remote commands).
     */
    hostKey: z
        .string()
        .regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+=*$/, { error: "expected `<type> <base64>`, e.g. the output of ssh-keyscan without the host" })
        .optional(),
    /**
     * The former single model image. The server now runs the blue-green slots of the definition
     * (`slots.<slot>.image`, `activeSlot`), as Kubernetes does. A stack that still sets this and no `slots`
     * runs it in the active slot, with the other slot empty; with `slots` set it must equal the active
     * slot's image. Prefer `slots`.
     */
    image: pinnedImage.optional(),
    /**
     * R16: what the slot that does not serve does between releases. `stopped` (the default): its container
     * stays on the server but does not run, so a 2-4 GiB server holds one model in memory; a rollback then
     * starts it and waits for its models to load before switching (no request is dropped, the switch takes
     * the load time). `warm`: it keeps running, holding a second copy of the models, for an instant
     * rollback. Either way both slots run while a switch waits for the new one.
     * @default "stopped"
     */
    idleSlot: z.enum(["warm", "stopped"]).default("stopped"),
    /** R8 host name (CNAME to the server); the endpoint uses it when set. */
    domain: z
        .string()
        .regex(/^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, { error: "expected a DNS name such as models.example.com" })
        .optional(),
    /**
     * The server's availability zone (e.g. `cn-shanghai-b`), recorded on every log line its shipper
     * ships (`cloud.availability_zone`, as the cluster's shipper records the node's zone label).
     */
    zone: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { error: "expected a zone name such as cn-shanghai-b (lower-case letters, digits and '-')" })
        .optional(),
    /** R1 minimum RAM (nominal: a 2 GiB server reports about 5-10% less after kernel reservations). */
    minMemoryMiB: int(512).default(2048),
    /** R1 minimum free disk for Docker's data root, in GB (10^9 bytes). */
    minDiskGB: int(1).default(20),
    /** Seconds to wait for /v2/health/ready after the container starts. */
    readyTimeoutSeconds: int(5, 3600).default(300),
    /**
     * Host folder holding the Triton model repository (mounted read-only at /models). Not a system
     * folder, not the program's key folder or one holding it, no "." or ".." segments.
     */
    modelRepository: z
        .string()
        .regex(/^\/[A-Za-z0-9._/-]*$/, { error: "expected an absolute path of letters, digits, '.', '_', '-' and '/'" })
        .superRefine((folder, ctx) => {
            const issue = modelRepositoryIssue(folder);
            if (issue) {
                ctx.addIssue({ code: "custom", message: issue });
            }
        })
        .default("/var/lib/triton-platform/models"),
    /**
     * A folder of the project (relative to the Pulumi project's folder, or absolute) holding each model's
     * files as `<model>/<version>/...` (e.g. models/dialogue/1/model.py). The program ships them to
     * `modelRepository`, beside the config.pbtxt it generates from `models` (a config.pbtxt in the folder is
     * ignored), and restarts Triton when they change: the first `pulumi up` serves a model. At most 4 MiB
     * (the files travel on stdin and stay in the state). Unset: the repository is yours to fill,
     * config.pbtxt included.
     */
    modelSource: z
        .string()
        .regex(/^[A-Za-z0-9._/-]+$/, { error: "expected a folder path of letters, digits, '.', '_', '-' and '/'" })
        .optional(),
    /**
     * The user the model container runs as, `uid:gid` (numbers: the key file on the server is given to
     * them, and a name would be resolved inside the image). NVIDIA's Triton images have the user
     * `triton-server`, uid 1000 and gid 1000, and Triton needs no root. `0:0` runs the image's root (an
     * image that cannot run as another user); the key file then stays root-only.
     */
    modelContainerUser: z
        .string()
        .regex(/^\d{1,10}:\d{1,10}$/, { error: "expected `uid:gid` in numbers, e.g. 1000:1000 (NVIDIA's triton-server user)" })
        .refine((u) => u.split(":").every((n) => Number(n) <= MAX_ID), { error: `expected a uid and gid of at most ${MAX_ID}` })
        .default("1000:1000"),
    /** Size of the model container's /dev/shm in MiB (Docker's 64 MiB is too small for Triton's shared memory). */
    shmSizeMiB: int(64, 65536).default(256),
    /** Docker json-file log rotation of the model container. */
    logRotation: z
        .strictObject({
            maxSize: z.string().regex(/^\d+[kmg]$/, { error: "expected a size such as 50m" }).default("50m"),
            maxFiles: int(1, 100).default(5),
        })
        .prefault({}),
});
export type ServerSettings = z.infer<typeof serverSchema>;
