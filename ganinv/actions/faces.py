"""Task: find the faces in a photo and bring one to a generator's crop (and back into the photo).

Alignment follows the FFHQ recipe (Karras et al., "A Style-Based Generator Architecture for
GANs", CVPR 2019, App. A) with the template of the model's training set; the landmarks come
from dlib's 68-point model (iBUG 300-W, non-commercial terms).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from ..cache import LoadOnceCache
from ..faces import NoFaceError, align_face, detect_faces, draw_landmarks, get_align_spec, paste_back, pick_face
from ..identity import ARCFACE_SAME_PERSON_THRESHOLD, IdentityLoss, identity_metrics, verdict
from ..io import center_crop_resize, load_image, pil_to_tensor, tensor_to_pil
from ..models.base import Generator
from ..registry import MODELS, get_spec
from ..settings import ALIGN_MODES, FACE_THUMB_PX, MAX_FACES
from .common import choice, number


@dataclass
class Prepared:
    image: Image.Image                          # model-sized RGB crop that is inverted
    tensor: torch.Tensor                        # [1, 3, R, R] in [-1, 1]
    note: str                                   # how the crop was made, in words
    original: Image.Image | None = None         # the whole photo (RGB, EXIF-rotated)
    aligned: object | None = None               # ganinv.faces.Aligned when a face was aligned (for paste-back)
    faces: list = field(default_factory=list)   # all faces found, largest first


def check_alignment(align: str, face_index) -> int:
    """The alignment mode checked and the face index as an int (0 = largest)."""
    choice(align, "Face alignment", ALIGN_MODES)
    return number(face_index, "Face index", 0, MAX_FACES - 1, whole=True)


def prepare_image(src, G: Generator, *, align: str = "auto", face_index: int = 0) -> Prepared:
    """Load any image and bring it to the model's crop.

    align: "auto"   align the ``face_index``-th largest face with the model's template; when
                    no face is found use the centre square and say so in ``note``; an image
                    already at the model's resolution is used as it is;
           "face"   as auto, but no face is an error (``NoFaceError``);
           "center" the centre square, resized (no detection).
    """
    face_index = check_alignment(align, face_index)
    img = load_image(src)
    template = get_spec(G.name).align if G.name in MODELS else "center"
    if align == "center" or template == "center":
        crop = center_crop_resize(img, G.resolution)
        note = f"centre crop {min(img.size)} px -> {G.resolution} px (no face alignment)"
        return Prepared(crop, pil_to_tensor(crop).to(G.device), note, original=img)
    if align == "auto" and img.size == (G.resolution, G.resolution):
        # already a model-sized crop (e.g. the model's own sample): aligning it again would move the face
        # and re-sample it (a generated sample, re-aligned, is 17-31 dB from itself)
        return Prepared(img, pil_to_tensor(img).to(G.device),
                        f"already {G.resolution}x{G.resolution}, the model's size: used as it is (no face alignment)",
                        original=img)
    spec = get_align_spec(template, G.resolution)
    found = detect_faces(img)
    if not found:
        if align == "face":
            raise NoFaceError(f"No face found in the {img.width}x{img.height} image. Use alignment "
                              f"'center' to invert the whole image centre-cropped.")
        crop = center_crop_resize(img, G.resolution)
        return Prepared(crop, pil_to_tensor(crop).to(G.device),
                        "no face found: used the whole image, centre-cropped", original=img)
    face = pick_face(found, face_index, img.size)
    a = align_face(img, face, spec)
    note = (f"face {face_index + 1} of {len(found)} aligned with the {template!r} template"
            + (" (largest)" if face_index == 0 and len(found) > 1 else ""))
    return Prepared(a.image, pil_to_tensor(a.image).to(G.device), note, original=img, aligned=a, faces=found)


def find_faces(src) -> dict:
    """Every face in a photo, largest first, in photo pixels:
    ``{"width", "height", "faces": [{"index", "box": [l, t, r, b], "score", "landmarks": [[x, y], ...]}]}``."""
    img = load_image(src)
    faces = []
    for i, f in enumerate(detect_faces(img)):
        box = [round(float(v), 1) for v in f.box]
        lm = None if f.landmarks is None else np.round(np.asarray(f.landmarks, float), 1).tolist()
        faces.append({"index": i, "box": box, "score": round(float(f.score), 3), "landmarks": lm})
    return {"width": img.width, "height": img.height, "faces": faces}


@dataclass
class FaceCrop:
    """One detected face as a picture to pick from (the gallery of a group photo)."""

    index: int                                  # 0-based face index (0 = largest), what ``invert(face=...)`` takes
    box: list[float]                            # [left, top, right, bottom] in photo pixels
    score: float                                # detector margin
    image: Image.Image                          # square crop around the box, ``size`` px


def face_crops(src, *, size: int = FACE_THUMB_PX, margin: float = 0.3) -> list[FaceCrop]:
    """Every face in a photo as a square crop (the box widened by ``margin`` of its side on each
    side, resized to ``size`` px), largest first: the index is the one inversion takes."""
    size = number(size, "Thumbnail size", 16, 512, whole=True)
    img = load_image(src)
    out = []
    for i, f in enumerate(detect_faces(img)):
        x0, y0, x1, y1 = (float(v) for v in f.box)
        half = max(x1 - x0, y1 - y0) * (0.5 + margin)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        square = tuple(int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half))
        crop = img.crop(square).resize((size, size), Image.BICUBIC)
        out.append(FaceCrop(i, [round(v, 1) for v in (x0, y0, x1, y1)], round(float(f.score), 3), crop))
    return out


def identity_metric(a: Image.Image, b: Image.Image) -> dict:
    """Is ``b`` the same person as ``a``?  ArcFace cosine similarity first (``arcface_similarity``,
    ``arcface_same_person``; Deng et al., CVPR 2019), then dlib's descriptor distance
    (``identity_distance`` < 0.6 and ``same_person``), or ``identity_note`` saying why one is missing."""
    return identity_metrics(a, b)


_CROP_ID: LoadOnceCache[IdentityLoss] = LoadOnceCache()     # one identity network per template, size, device


def crop_similarity(G: Generator, a: torch.Tensor, b: torch.Tensor) -> dict:
    """ArcFace cosine similarity (Deng et al., CVPR 2019) of two model crops [1, 3, R, R] in [-1, 1] that
    are aligned with the model's face template, so no detection is needed (a 64-px face is too small
    for the detector to be reliable).  Models without a face template: ``identity_metric``."""
    template = get_spec(G.name).align if G.name in MODELS else "center"
    if template == "center":
        return identity_metric(tensor_to_pil(a[0]), tensor_to_pil(b[0]))
    net = _CROP_ID.get((template, G.resolution, str(a.device)),
                       lambda: IdentityLoss(get_align_spec(template, G.resolution)).to(a.device).eval())
    with torch.no_grad():
        sim = float((net.embed(a.float()) * net.embed(b.float().to(a.device))).sum())
    return {"arcface_similarity": sim, "arcface_same_person": sim >= ARCFACE_SAME_PERSON_THRESHOLD}


def paste_into_photo(prep: Prepared, edited: torch.Tensor | Image.Image) -> Image.Image:
    """The whole original photo with the (edited) face warped back in; without alignment, the crop itself."""
    img = edited if isinstance(edited, Image.Image) else tensor_to_pil(edited[0] if edited.ndim == 4 else edited)
    if prep.aligned is None or prep.original is None:
        return img
    return paste_back(prep.original, img, prep.aligned)


def alignment_preview(prepared: Prepared | None) -> Image.Image | None:
    """The original photo with every detected face's landmarks and the chosen face's crop quad;
    None when no face was aligned."""
    if prepared is None or not getattr(prepared, "faces", None) or prepared.original is None:
        return None
    out = draw_landmarks(prepared.original, prepared.faces)
    a = prepared.aligned
    if a is not None and a.face is not None:
        out = draw_landmarks(out, [a.face], quads=[a.quad], numbers=False)
    return out


__all__ = ["verdict", "Prepared", "check_alignment", "prepare_image", "find_faces", "FaceCrop", "face_crops", "identity_metric",
           "paste_into_photo",
           "alignment_preview", "NoFaceError"]
