# A Triton Python-backend model whose faults the alert test (test/e2e/alerts.test.ts) controls:
#   - failures: the model parameter `failure_fraction` (config.pbtxt) makes exactly that share of its
#     requests fail, spread evenly (request n fails when floor(n * fraction) steps up), so the error
#     rate never exceeds the fraction, even early on;
#   - latency: each request carries DELAY_MS (INT32, shape [1]) and the model sleeps that long before
#     answering (the longest delay of a batch when the dynamic batcher groups requests).
# A failure is raised from execute(): Triton then counts it in nv_inference_request_failure
# {reason="BACKEND"}. (An InferenceResponse carrying an error is counted as a *success* by the Python
# backend of Triton 2.51, so it would not move the error-rate alert.) Raising fails every request of the
# batch: the test sends one request at a time per model, so each batch holds one request.
import json
import math
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})
        self.fraction = float(params.get("failure_fraction", {}).get("string_value", "0"))
        self.count = 0

    def execute(self, requests):
        delay_ms = max(int(pb_utils.get_input_tensor_by_name(r, "DELAY_MS").as_numpy().max()) for r in requests)
        if delay_ms > 0:
            time.sleep(delay_ms / 1000.0)
        failed = False
        for _ in requests:
            before = math.floor(self.count * self.fraction)
            self.count += 1
            failed = failed or math.floor(self.count * self.fraction) > before
        if failed:
            raise pb_utils.TritonModelException("injected failure (failure_fraction %s)" % self.fraction)
        responses = []
        for r in requests:
            delay = pb_utils.get_input_tensor_by_name(r, "DELAY_MS").as_numpy()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("ECHO_MS", delay.astype(np.int32))]))
        return responses
