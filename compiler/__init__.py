"""The model compiler: int8 TFLite (and QDQ ONNX) networks -> device model images, planned per profile.

docs/compiler.md describes the package. The entry point for the daemon and the CLI:

Usage:
    from compiler import compile_tflite
    lowered = compile_tflite("kws_ref_model.tflite", "edge-v1", max_rows=8)
    lowered.image, lowered.input_bytes, lowered.output_bytes, lowered.stats
"""

from __future__ import annotations


def compile_tflite(source, profile, max_rows: int = 1):
    """Import a TFLite file (path or bytes) and lower it for a profile (name, path or Profile) to a v2 image."""
    from asic_model.profiles import Profile, load_profile
    from compiler.lower import lower
    from compiler.tflite_import import import_tflite
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    return lower(import_tflite(source), prof, max_rows=max_rows)
