"""Real photos: face detection, alignment to a generator's crop, paste-back, preview.

    faces = detect_faces(photo)                      # largest first; [] if none; faces_json(photo) as JSON
    a = align(photo, get_align_spec("ffhq", 1024))   # or align_face(photo, faces[i], spec)
    ... invert / edit a.image ...
    result = paste_back(photo, edited, a)            # pixels outside the mask unchanged
    result = paste_edit(photo, G(w), G(w_edit), a)   # or add only the edit, keeping the photo's detail

Landmarks come from dlib's 68-point model trained on iBUG 300-W, whose terms exclude
commercial use.
"""
from .align import (ALIGN_SPECS, CELEBA_DCGAN, CENTER, FFHQ, Aligned, AlignSpec, align, align_face,
                    apply_transform, face_quad, get_align_spec, quad_from_points, quad_transform)
from .detect import (Face, NoFaceError, detect_faces, face_landmarks, faces_json, fit_landmarks, pick_face,
                     require_face)
from .draw import draw_landmarks
from .paste import face_mask, paste_back, paste_edit, paste_mask

__all__ = [
    "ALIGN_SPECS", "CELEBA_DCGAN", "CENTER", "FFHQ", "Aligned", "AlignSpec", "align", "align_face",
    "apply_transform", "face_quad", "get_align_spec", "quad_from_points", "quad_transform",
    "Face", "NoFaceError", "detect_faces", "face_landmarks", "faces_json", "fit_landmarks", "pick_face",
    "require_face",
    "draw_landmarks", "face_mask", "paste_back", "paste_edit", "paste_mask",
]
