"""Safe with hostile or damaged weights: checkpoints and ONNX graphs that are truncated, junk,
pickled code, foreign or stale are refused with one line, without running anything; and a
registered name verified against a wrong SHA-256.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from helpers import run, small_photos


class _Payload:
    marker: Path

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def hostile_weights(folder: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """{case: (file, what the one-line error says)}."""
    folder.mkdir()
    data = good.read_bytes()
    truncated = folder / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    other = folder / "other-architecture.pt"
    payload = torch.load(good, weights_only=True)
    payload["meta"]["architecture"] = "someone.ResNet"
    torch.save(payload, other)
    pickled = folder / "pickled.pt"
    _Payload.marker = folder / "PAYLOAD_RAN"
    torch.save({"format": "sacrop-checkpoint", "payload": _Payload()}, pickled)
    junk = folder / "junk.pt"
    junk.write_bytes(b"hello, I am not a checkpoint")
    return {
        "truncated": (
            truncated,
            "damaged or truncated weights file (PytorchStreamReader failed "
            "reading zip archive: failed finding central directory)",
        ),
        "architecture": (
            other,
            "checkpoint is for architecture 'someone.ResNet', not 'sacrop.CropScorer'",
        ),
        "pickle": (
            pickled,
            "refused: the file needs pickled code to load, which sacrop never "
            "runs (not a sacrop checkpoint, or tampered with)",
        ),
        "junk": (junk, "damaged or truncated weights file (KeyError)"),
    }


def test_hostile_weights_are_refused_with_one_line(random_weights, tmp_path, monkeypatch):
    monkeypatch.delenv("SACROP_WEIGHTS", raising=False)
    photo = small_photos(tmp_path / "in", 1)[0]
    cases = hostile_weights(tmp_path / "w", random_weights)
    for case, (path, reason) in cases.items():
        cropped = run("crop", photo, "-o", tmp_path / "out", "--weights", path, "--engine", "torch")
        assert (cropped.exit_code, cropped.stderr) == (1, f"error: {path}: {reason}\n"), case
        verified = run("weights", "verify", path)
        assert (verified.exit_code, verified.stderr) == (1, f"error: {path}: {reason}\n"), case
    assert not (tmp_path / "w" / "PAYLOAD_RAN").exists()
    assert not (tmp_path / "out").exists()
    folder = run("crop", photo, "-o", tmp_path / "out", "--weights", tmp_path / "w")
    assert folder.stderr == f"error: {tmp_path / 'w'}: is a folder, not a weights file\n"


def hostile_graphs(folder: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """{case: (file, what the one-line error says)} for ONNX graphs; ``good`` is a .pt whose
    graph lies beside it."""
    import onnx
    from onnx import TensorProto, helper

    folder.mkdir()
    data = good.with_suffix(".onnx").read_bytes()
    truncated = folder / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    junk = folder / "junk.onnx"
    junk.write_bytes(b"hello, I am not a graph")
    foreign = folder / "foreign.onnx"  # a valid ONNX model, not sacrop's
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    model = helper.make_model(
        helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 18)],
    )
    onnx.save(model, foreign)
    other = folder / "other-architecture.onnx"
    graph = onnx.load_from_string(data)
    for prop in graph.metadata_props:
        if prop.key == "sacrop_meta":
            prop.value = prop.value.replace('"sacrop.CropScorer"', '"someone.ResNet"')
    onnx.save(graph, other)
    stale = folder / "stale.onnx"  # beside a checkpoint it was not exported from
    stale.write_bytes(data)
    (folder / "stale.pt").write_bytes(good.read_bytes() + b"changed")
    return {
        "truncated": (truncated, "not a readable ONNX graph ("),
        "junk": (junk, "not a readable ONNX graph ("),
        "foreign": (foreign, "not a sacrop graph (no 'sacrop-onnx' metadata)"),
        "architecture": (
            other,
            "graph is for architecture 'someone.ResNet', not 'sacrop.CropScorer'",
        ),
        "stale": (
            stale,
            "outdated: it was not exported from the stale.pt beside it; "
            f"run `sacrop weights export {folder / 'stale.pt'}`",
        ),
    }


def test_hostile_graphs_are_refused_with_one_line(random_weights, tmp_path, monkeypatch):
    monkeypatch.delenv("SACROP_WEIGHTS", raising=False)
    photo = small_photos(tmp_path / "in", 1)[0]
    for case, (path, reason) in hostile_graphs(tmp_path / "w", random_weights).items():
        cropped = run("crop", photo, "-o", tmp_path / "out", "--weights", path)
        assert cropped.exit_code == 1, case
        assert cropped.stderr.startswith(f"error: {path}: {reason}"), (case, cropped.stderr)
        assert cropped.stderr.count("\n") == 1, case
    assert not (tmp_path / "out").exists()


def test_verify_a_registered_name_against_a_wrong_sha256(random_weights, monkeypatch):
    from sacrop_cli.model import registry as weights

    graph = random_weights.with_suffix(".onnx")
    monkeypatch.setattr(
        weights, "locate", lambda name, kind="onnx": graph if kind == "onnx" else random_weights
    )
    actual = weights.sha256_file(graph)
    wrong = run("weights", "verify", weights.DEFAULT_WEIGHTS, "--sha256", "0" * 64)
    assert wrong.exit_code == 1
    assert wrong.stderr.startswith(
        f"error: {graph}: SHA-256 mismatch: expected {'0' * 64}, got {actual}"
    )
    # the shipped checkpoint's known SHA-256 is not the random one's either
    assert wrong.stderr.rstrip("\n").endswith(f"got {weights.sha256_file(random_weights)}")
    monkeypatch.setitem(
        weights.REGISTRY,
        weights.DEFAULT_WEIGHTS,
        weights.WeightsEntry(
            weights.DEFAULT_WEIGHTS,
            "test",
            (
                weights.WeightsFile("onnx", graph.name, None),
                weights.WeightsFile("torch", random_weights.name, None),
            ),
        ),
    )
    right = run("weights", "verify", weights.DEFAULT_WEIGHTS, "--sha256", actual)
    assert right.exit_code == 0 and f"sha256: {actual}" in right.stdout
