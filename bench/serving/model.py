# The serving benchmark's model (bench/serving.ts): a Triton Python-backend model with a fixed, small
# service time, so that what the platform adds in front of Triton (the gateway, the dialogue service)
# stands out against the floor. Each execute() call sleeps `compute_ms` (config.pbtxt parameter) once,
# whatever the batch size, then echoes INPUT0 as OUTPUT0: the shape of a GPU kernel at small batch
# sizes, and no host CPU spent on compute (a sleep), so the host's two cores measure the serving path.
# With the dynamic batcher, requests that arrive while a batch runs share the next one; without it,
# each request costs one compute_ms.
import json
import time

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})
        self.compute_s = float(params.get("compute_ms", {}).get("string_value", "2")) / 1000.0

    def execute(self, requests):
        time.sleep(self.compute_s)
        return [
            pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy())])
            for r in requests
        ]
