// Settings of the Triton model service on Kubernetes (config keys `slots`, `activeSlot`, `releases`,
// `modelService`, `models`). Defaults follow the guide (R12, R13, R16) and Triton's own advice.
import { z } from "zod";
import { bool, dnsLabel, int, isQualifiedKey, LABEL_VALUE, labelMap, pinnedImage, port, quantity } from "../../kit/schema";

// The slots are shared with the lightweight server: their schema lives in the kit.
export { DEFAULT_TRITON_IMAGE, SLOT_NAMES, slotSchema, slotsSchema } from "../../kit/slots";
export type { SlotName } from "../../kit/slots";

/** A probe's timings, with the defaults of one probe kind. */
function probe(defaults: { initialDelaySeconds: number; periodSeconds: number; timeoutSeconds: number; failureThreshold: number }) {
    return z
        .strictObject({
            initialDelaySeconds: int(0, 3600).default(defaults.initialDelaySeconds),
            periodSeconds: int(1, 3600).default(defaults.periodSeconds),
            timeoutSeconds: int(1, 3600).default(defaults.timeoutSeconds),
            failureThreshold: int(1, 1000).default(defaults.failureThreshold),
        })
        .prefault({});
}
export type ProbeSettings = z.infer<ReturnType<typeof probe>>;

/** Triton's tensor data types (model_config.proto DataType); TYPE_STRING carries BYTES (text). */
export const TENSOR_DATA_TYPES = [
    "TYPE_BOOL",
    "TYPE_UINT8",
    "TYPE_UINT16",
    "TYPE_UINT32",
    "TYPE_UINT64",
    "TYPE_INT8",
    "TYPE_INT16",
    "TYPE_INT32",
    "TYPE_INT64",
    "TYPE_FP16",
    "TYPE_FP32",
    "TYPE_FP64",
    "TYPE_BF16",
    "TYPE_STRING",
] as const;

/** One input or output of a model, as config.pbtxt declares it. */
export const tensorSchema = z.strictObject({
    /** Tensor name, as the model's code and clients use it. */
    name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, { error: "expected a tensor name of letters, digits and '_'" }),
    /** Element type, e.g. TYPE_FP32; TYPE_STRING for text (BYTES on the wire). */
    dataType: z.enum(TENSOR_DATA_TYPES),
    /** Shape without the batch dimension (Triton adds it when maxBatchSize > 0); -1 for a variable size. */
    dims: z.array(z.number().int().min(-1).max(1 << 30)).min(1).max(8),
});
export type TensorSettings = z.infer<typeof tensorSchema>;

export const modelSchema = z.strictObject({
    /** Model name: the directory in the model repository and Triton's model name. */
    name: dnsLabel,
    /** Triton backend platform, e.g. onnxruntime_onnx, tensorrt_plan, pytorch_libtorch. */
    platform: z
        .enum(["onnxruntime_onnx", "tensorrt_plan", "pytorch_libtorch", "tensorflow_savedmodel", "python"])
        .default("onnxruntime_onnx"),
    /** Largest batch Triton forms (R12: 32). 0 disables batching. */
    maxBatchSize: int(0, 4096).default(32),
    /** Dynamic batching: queue delay Triton may wait to fill a batch, in microseconds. */
    dynamicBatching: z
        .strictObject({
            enabled: bool.default(true),
            maxQueueDelayMicroseconds: int(0, 10_000_000).default(100),
            preferredBatchSizes: z.array(int(1, 4096)).default([8, 16, 32]),
        })
        .prefault({}),
    /** Serving precision (R12 recommends INT8 quantized models). */
    precision: z.enum(["int8", "fp16", "fp32"]).default("int8"),
    /** Model instances per pod. */
    instanceCount: int(1, 64).default(1),
    /**
     * Inputs config.pbtxt declares. Empty: left to Triton's auto-complete (ONNX, TensorRT, TorchScript and
     * SavedModel files describe their own tensors). A Python-backend model needs them: its code does not.
     * @default []
     */
    inputs: z.array(tensorSchema).max(64).default([]),
    /** Outputs config.pbtxt declares (see `inputs`). @default [] */
    outputs: z.array(tensorSchema).max(64).default([]),
});
export type ModelSettings = z.infer<typeof modelSchema>;

export const modelServiceSchema = z.strictObject({
    /** Service port collaboration platforms reach (R7). */
    servicePort: port.default(18789),
    /** Triton's HTTP, gRPC and metrics ports inside the pod (Triton defaults). */
    ports: z
        .strictObject({ http: port.default(8000), grpc: port.default(8001), metrics: port.default(8002) })
        .prefault({}),
    resources: z
        .strictObject({
            cpuRequest: quantity.default("2"),
            memoryRequest: quantity.default("8Gi"),
            memoryLimit: quantity.default("8Gi"),
            cpuLimit: quantity.optional(),
        })
        .prefault({}),
    gpu: z
        .strictObject({
            /** nvidia.com/gpu per pod; 0 serves on CPU. */
            count: int(0, 16).default(0),
            nodeSelector: labelMap.default({ "nvidia.com/gpu.present": "true" }),
            tolerations: z
                .array(
                    z.strictObject({
                        key: z.string().refine(isQualifiedKey, { error: "expected a taint key: [prefix/]name, as a Kubernetes label key" }),
                        operator: z.enum(["Exists", "Equal"]).default("Exists"),
                        value: z.string().regex(LABEL_VALUE, { error: "expected a taint value: at most 63 letters, digits, '-', '_', '.'" }).optional(),
                        effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
                    }),
                )
                .default([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]),
        })
        .prefault({}),
    /** Size of /dev/shm (Triton's Python backend and shared-memory transfers need more than 64 MiB). */
    shmSize: quantity.default("1Gi"),
    /** Longest time a model may take to load; the startup probe must allow at least this long. */
    expectedModelLoadSeconds: int(1, 7200).default(300),
    probes: z
        .strictObject({
            /** Allows periodSeconds x failureThreshold for a model to load before liveness applies. */
            startup: probe({ initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 60 }),
            /** R13: HTTP on the service, initial delay 30 s, period 10 s. */
            liveness: probe({ initialDelaySeconds: 30, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 }),
            readiness: probe({ initialDelaySeconds: 0, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 }),
        })
        .prefault({}),
    hpa: z
        .strictObject({
            minReplicas: int(1, 1000).default(3),
            maxReplicas: int(1, 1000).default(9),
            cpuUtilization: int(1, 100).default(70),
            memoryUtilization: int(1, 100).default(80),
            scaleDownStabilizationSeconds: int(0, 3600).default(300),
        })
        .prefault({}),
    /** Triton's --exit-timeout-secs: how long it drains in-flight requests after SIGTERM. */
    exitTimeoutSeconds: int(0, 3600).default(30),
    /** Sleep before SIGTERM so endpoints stop routing to the pod first. */
    preStopDelaySeconds: int(0, 600).default(10),
    /** Must exceed preStopDelaySeconds + exitTimeoutSeconds. */
    terminationGracePeriodSeconds: int(1, 7200).default(60),
    /** What the idle slot does: keep its replicas (instant switch) or scale to zero (cheaper). */
    idleSlot: z.enum(["warm", "scaledToZero"]).default("warm"),
    modelRepository: z
        .strictObject({
            /** s3://bucket/prefix on the object store of `objectStorage`. */
            uri: z
                .string()
                .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, {
                    error: "expected s3://<bucket>/<prefix>",
                })
                .default("s3://models/triton"),
            /** Image of the init container that syncs the repository into the pod (has the aws CLI). */
            syncImage: pinnedImage.default("docker.io/amazon/aws-cli:2.17.0"),
            /** Size bound of the pod-local copy of the repository. */
            sizeLimit: quantity.default("20Gi"),
        })
        .prefault({}),
});
export type ModelServiceSettings = z.infer<typeof modelServiceSchema>;
