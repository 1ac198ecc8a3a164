// Object storage settings (S3-compatible), shared by the model repository and the log sink.
import { z } from "zod";
import { annotationMap, bool } from "./schema";

/** S3-compatible object storage used by the model repository and the log sink. */
export const objectStorageSchema = z
    .strictObject({
        endpoint: z.url({ protocol: /^https?$/, error: "expected an http(s) URL such as https://s3.eu-west-1.amazonaws.com" }).default("https://s3.us-east-1.amazonaws.com"),
        region: z.string().min(1).default("us-east-1"),
        /** Path-style addressing (MinIO and most self-hosted stores need it). */
        forcePathStyle: bool.default(false),
        /**
         * Annotations for the workloads' service account when the cluster grants object-store access by
         * workload identity (IRSA, GKE Workload Identity) instead of static keys.
         */
        serviceAccountAnnotations: annotationMap.default({}),
    })
    .prefault({});

/** The parsed `objectStorage` settings. */
export type ObjectStorageSettings = z.infer<typeof objectStorageSchema>;
