// Triton model configuration (config.pbtxt) generated from the definition, so R12's batching and
// precision choices reach Triton from one place. See docs/MODEL-CONFIG.md for what each setting can
// and cannot change in Triton.
import { ModelSettings } from "./schema";

/** Precision names as TensorRT execution accelerators spell them. */
const TRT_PRECISION: Record<ModelSettings["precision"], string> = { int8: "INT8", fp16: "FP16", fp32: "FP32" };

/**
 * The config.pbtxt of one model. Inputs and outputs come from the definition when it declares them (a
 * Python-backend model must); otherwise they are left to Triton's auto-complete (on by default for ONNX,
 * TensorRT, TorchScript and SavedModel), so those model files stay the source of truth for tensor shapes
 * while serving settings come from the definition.
 */
export function modelConfigPbtxt(model: ModelSettings, options: { gpu: boolean }): string {
    const lines: string[] = [`name: "${model.name}"`];
    if (model.platform === "python") {
        lines.push(`backend: "python"`);
    } else {
        lines.push(`platform: "${model.platform}"`);
    }
    lines.push(`max_batch_size: ${model.maxBatchSize}`);
    for (const [field, tensors] of [["input", model.inputs], ["output", model.outputs]] as const) {
        if (tensors.length > 0) {
            lines.push(`${field} [`);
            tensors.forEach((t, i) => {
                const sep = i < tensors.length - 1 ? "," : "";
                lines.push(`  { name: "${t.name}", data_type: ${t.dataType}, dims: [ ${t.dims.join(", ")} ] }${sep}`);
            });
            lines.push("]");
        }
    }
    if (model.dynamicBatching.enabled && model.maxBatchSize > 0) {
        const sizes = model.dynamicBatching.preferredBatchSizes.filter((s) => s <= model.maxBatchSize);
        lines.push("dynamic_batching {");
        if (sizes.length > 0) {
            lines.push(`  preferred_batch_size: [ ${sizes.join(", ")} ]`);
        }
        lines.push(`  max_queue_delay_microseconds: ${model.dynamicBatching.maxQueueDelayMicroseconds}`);
        lines.push("}");
    }
    lines.push("instance_group [");
    lines.push(`  { count: ${model.instanceCount}, kind: ${options.gpu ? "KIND_GPU" : "KIND_CPU"} }`);
    lines.push("]");
    // ONNX Runtime on GPU: the TensorRT execution accelerator builds an engine at the requested precision
    // (INT8 needs a calibrated/quantized model; TensorRT falls back per layer otherwise).
    if (model.platform === "onnxruntime_onnx" && options.gpu && model.precision !== "fp32") {
        lines.push("optimization { execution_accelerators {");
        lines.push("  gpu_execution_accelerator: [ {");
        lines.push(`    name: "tensorrt"`);
        lines.push(`    parameters { key: "precision_mode" value: "${TRT_PRECISION[model.precision]}" }`);
        lines.push("  } ]");
        lines.push("} }");
    }
    // Recorded for operators and dashboards; for TensorRT plans and CPU models the precision is a
    // property of the model file itself (see docs/MODEL-CONFIG.md).
    lines.push(`parameters { key: "triton_platform_precision" value: { string_value: "${model.precision}" } }`);
    return lines.join("\n") + "\n";
}

/** ConfigMap data: one `<model>.pbtxt` per model, plus the S3 client config of the sync step. */
export function modelConfigData(
    models: ModelSettings[],
    options: { gpu: boolean; forcePathStyle: boolean; region: string },
): Record<string, string> {
    const data: Record<string, string> = {};
    for (const m of models) {
        data[`${m.name}.pbtxt`] = modelConfigPbtxt(m, options);
    }
    data["aws-config"] = [
        "[default]",
        `region = ${options.region}`,
        "s3 =",
        `    addressing_style = ${options.forcePathStyle ? "path" : "auto"}`,
        "",
    ].join("\n");
    return data;
}
