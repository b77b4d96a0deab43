"""InvokeEndpoint through boto3 against the local model server's SageMaker route.

Usage: python3 boto3_invoke.py <endpoint_url> <endpoint_name>

Prints one JSON object per line, one per call, for sagemaker-boto3.test.ts to check. Exits with
status 3 and a message on stderr when boto3 is not installed.
"""

import json
import struct
import sys

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError:
    sys.stderr.write("boto3 is not installed: apt-get install python3-boto3 (or pip install boto3)\n")
    sys.exit(3)

BINARY_PREFIX = "application/vnd.sagemaker-triton.binary+json;json-header-size="
INPUT = list(range(16))


def simple_inputs():
    return [
        {"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": INPUT},
        {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": [1] * 16},
    ]


def split_answer(body, content_type):
    """The JSON header of an answer and the bytes after it (SageMaker's binary+json type)."""
    if content_type.startswith(BINARY_PREFIX):
        length = int(content_type[len(BINARY_PREFIX):])
        return json.loads(body[:length]), body[length:]
    return json.loads(body), b""


def main():
    url, endpoint = sys.argv[1], sys.argv[2]
    client = boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}),
    )

    def invoke(case, body, content_type="application/json", target="simple.tar.gz", name=endpoint):
        try:
            response = client.invoke_endpoint(
                EndpointName=name, TargetModel=target, ContentType=content_type, Body=body
            )
            raw = response["Body"].read()
            header, binary = split_answer(raw, response["ContentType"])
            result = {
                "status": response["ResponseMetadata"]["HTTPStatusCode"],
                "content_type": response["ContentType"],
                "variant": response.get("InvokedProductionVariant"),
                "answer": header,
                "binary": list(binary),
            }
        except ClientError as error:
            result = {
                "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
                "code": error.response["Error"]["Code"],
                "message": error.response["Error"].get("Message"),
                "original_status": error.response.get("OriginalStatusCode"),
                "original_message": error.response.get("OriginalMessage"),
                "log_stream_arn": error.response.get("LogStreamArn"),
            }
        print(json.dumps({"case": case, **result}), flush=True)

    invoke("json", json.dumps({"inputs": simple_inputs()}))

    # The binary tensor extension, framed as SageMaker carries it: the JSON header length rides in
    # the content type, since SageMaker passes no custom header on to the container.
    tensor = struct.pack("<16i", *INPUT)
    header = json.dumps(
        {
            "inputs": [
                {"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "parameters": {"binary_data_size": 64}},
                {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": [1] * 16},
            ],
            "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": True}}, {"name": "OUTPUT1"}],
        }
    ).encode()
    invoke("binary", header + tensor, content_type=BINARY_PREFIX + str(len(header)))

    wrong_shape = simple_inputs()
    wrong_shape[0] = {"name": "INPUT0", "datatype": "INT32", "shape": [1, 15], "data": INPUT[:15]}
    invoke("model-error", json.dumps({"inputs": wrong_shape}))

    invoke("reserved-parameter", json.dumps({"parameters": {"triton_x": 1}, "inputs": simple_inputs()}))

    iris = {
        "inputs": [{"name": "FEATURES", "datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}],
        "outputs": [{"name": "PROBABILITIES", "parameters": {"classification": 1}}],
    }
    invoke("classification", json.dumps(iris), target="iris.tar.gz")

    invoke("unknown-endpoint", json.dumps({"inputs": simple_inputs()}), name="no-such-endpoint")


if __name__ == "__main__":
    main()
