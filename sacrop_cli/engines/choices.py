"""The choices of what runs the network: engines, devices and number formats.

The one list of them, apart from :mod:`sacrop_cli.engines.factory` (which loads numpy and ONNX
Runtime) so that the command line offers them without loading either: ``sacrop --help`` must
start fast.
"""

ENGINES = ("auto", "onnx", "torch")
DEVICES = ("auto", "cpu", "cuda")
#: The network's number formats: the float graph, or its int8 quantization (ONNX Runtime only).
PRECISIONS = ("fp32", "int8")
DEFAULT_PRECISION = "fp32"
