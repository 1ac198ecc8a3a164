// Settings of the lightweight server (config key `server`): R1-R4, R7, R8. Absent: no server path.
import { z } from "zod";
import { bool, int, pinnedImage, port } from "../../stack/schema-kit";

export const serverSchema = z.strictObject({
    /** Host name or address reachable over SSH. */
    host: z.string().min(1),
    sshPort: port.default(22),
    user: z.string().min(1).default("ubuntu"),
    /** Run privileged steps through sudo (false when connecting as a user that is already root-capable). */
    sudo: bool.default(true),
    /** Pinned model container image (a stand-in is allowed for tests). */
    image: pinnedImage.default("nvcr.io/nvidia/tritonserver:23.12-py3"),
    /** R8 host name (CNAME to the server). */
    domain: z.string().optional(),
    /** R1 minimums checked before anything is installed. */
    minMemoryMiB: int(512).default(2048),
    minDiskGB: int(1).default(20),
    /** Seconds to wait for /v2/health/ready after the container starts. */
    readyTimeoutSeconds: int(5, 3600).default(300),
});
export type ServerSettings = z.infer<typeof serverSchema>;
