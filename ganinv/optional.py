"""The third-party packages ganinv imports lazily, inside the function that needs them.

Everything else is imported at module level.  These are either heavy to import (seconds, or
threads and sessions started at import) or needed by one feature only, so importing ganinv
stays fast and a missing one breaks only its feature, with the message its loader gives.
tests/test_layering.py checks that no other package is imported inside a function.
"""
LAZY_IMPORTS = {
    "cv2": "OpenCV: SFace / ArcFace reference runs and the YuNet detector (identity, faces)",
    "dlib": "face detector, 68-point landmarks and the ResNet face descriptor",
    "face_recognition_models": "the dlib model files",
    "lpips": "LPIPS linear heads (perceptual metric)",
    "stlpips_pytorch": "shift-tolerant LPIPS (the offline perceptual fallback)",
    "mediapipe": "face landmarker (attribute scores); starts threads at import",
    "onnx": "reading the SFace / ArcFace graphs",
    "onnx2torch": "converting the SFace / ArcFace graphs to torch",
    "onnxruntime": "reference runs of the ONNX identity networks, when installed",
    "open_clip": "CLIP (StyleCLIP); ~2 s to import",
    "ray": "the Ray engine of `ganinv evaluate` (optional: requirements-scale.txt); ~2 s to import",
    "sklearn": "the linear SVM of InterFaceGAN; ~0.5 s to import",
}
