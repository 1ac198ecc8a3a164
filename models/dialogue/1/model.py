"""The example dialogue model: Triton's Python backend, on CPU, deterministic.

Interface (config.pbtxt, generated from the stack definition's `models` entry):
  inputs   QUERY    TYPE_STRING dims [1]   the user's message (UTF-8)
           HISTORY  TYPE_STRING dims [1]   JSON array of the prior turns, e.g.
                                           [{"role":"user","content":"hi"},{"role":"assistant","content":"..."}]
                                           ("[]" for none)
  output   REPLY    TYPE_STRING dims [1]   "[<release>] turn <n>: you said \"<query>\""
max_batch_size 32 with dynamic batching: every request carries a batch of rows, each answered alone.

<n> is 1 + the number of user turns in HISTORY, so a reply shows that the model saw the history.
<release> names the release that answered: the environment variable TRITON_PLATFORM_RELEASE (the
program sets it on the model container: the server's slot and image tag), else the model parameter
`release` of config.pbtxt, else "unreleased". Blue-green tests tell the slots apart by it.
A HISTORY that is not a JSON array of {role, content} objects fails that request (400 from Triton's
HTTP API) with a message saying so; the other requests of the batch are answered.
"""

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils


def _text(value):
    """A BYTES element as text: Triton hands strings to Python as bytes."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def user_turns(history_json):
    """Number of user turns in a HISTORY value; ValueError when it is not a list of turns."""
    history = json.loads(history_json) if history_json.strip() else []
    if not isinstance(history, list):
        raise ValueError("HISTORY must be a JSON array of turns")
    count = 0
    for i, turn in enumerate(history):
        if not isinstance(turn, dict) or not isinstance(turn.get("role"), str) or not isinstance(turn.get("content"), str):
            raise ValueError(f"HISTORY[{i}] must be an object with string fields role and content")
        if turn["role"] == "user":
            count += 1
    return count


def reply(release, query, history_json):
    """The model's answer to one row: deterministic, names the release and the turn."""
    turn = 1 + user_turns(history_json)
    return f'[{release}] turn {turn}: you said "{query.strip()}"'


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        parameter = config.get("parameters", {}).get("release", {}).get("string_value", "")
        self.release = os.environ.get("TRITON_PLATFORM_RELEASE") or parameter or "unreleased"

    def execute(self, requests):
        responses = []
        for request in requests:
            queries = pb_utils.get_input_tensor_by_name(request, "QUERY").as_numpy()
            histories = pb_utils.get_input_tensor_by_name(request, "HISTORY").as_numpy()
            try:
                if queries.shape != histories.shape:
                    raise ValueError(f"QUERY {list(queries.shape)} and HISTORY {list(histories.shape)} must have the same shape")
                replies = [reply(self.release, _text(q), _text(h)) for q, h in zip(queries.reshape(-1), histories.reshape(-1))]
            except (ValueError, json.JSONDecodeError) as e:
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(f"dialogue: {e}", pb_utils.TritonError.INVALID_ARG)))
                continue
            out = np.array([r.encode("utf-8") for r in replies], dtype=np.object_).reshape(queries.shape)
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("REPLY", out)]))
        return responses
