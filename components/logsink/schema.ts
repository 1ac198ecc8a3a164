// Settings of the log sink (config key `logSink`): R13 conversation logs to object storage.
import { z } from "zod";
import { bool, int, quantity } from "../../stack/schema-kit";

export const logSinkSchema = z
    .strictObject({
        enabled: bool.default(true),
        /** Bucket on the `objectStorage` endpoint. */
        bucket: z.string().min(3).default("conversation-logs"),
        prefix: z.string().default("triton"),
        retentionDays: int(1, 3650).default(30),
        /** Bound of the on-disk buffer kept while the object store is unreachable. */
        bufferSize: quantity.default("2Gi"),
    })
    .prefault({});
export type LogSinkSettings = z.infer<typeof logSinkSchema>;
