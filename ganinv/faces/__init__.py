"""Real photos: face detection, alignment to a generator's crop, paste-back, preview.

    faces = detect_faces(photo)                      # largest first; [] if none; faces_json(photo) as JSON
    a = align(photo, get_align_spec("ffhq", 1024))   # or align_face(photo, faces[i], spec)
    ... invert / edit a.image ...
    result = paste_back(photo, edited, a)            # pixels outside the mask unchanged
    result = paste_flow(photo, G(w), G(w_edit), a)   # the photo's own pixels moved by the edit (default)
    result = paste_edit(photo, G(w), G(w_edit), a)   # or add only the edit's change

Landmarks come from dlib's 68-point model trained on iBUG 300-W, whose terms exclude
commercial use.
"""
from .align import (ALIGN_SPECS, CELEBA_DCGAN, CENTER, FFHQ, Aligned, AlignSpec, align, align_face,
                    apply_transform, face_quad, get_align_spec, quad_from_points, quad_transform)
from .detect import (Face, NoFaceError, detect_faces, face_landmarks, faces_json, fit_landmarks, pick_face,
                     require_face)
from .draw import draw_landmarks
from .flow_paste import paste_flow, render_flow
from .paste import face_mask, paste_back, paste_edit, paste_mask

# How an edited face goes back into the photo, by name: the CLI's --paste-mode choices, the app's list.
#   flow:  the photo's own pixels moved along the edit's motion, plus what motion does not explain (default)
#   delta: the edit's change G'(w + a n) - G'(w) added as it is (no motion: ghosts on geometry changes)
#   face:  the generator's edited face itself, feathered in (the generator's resolution)
PASTE_MODES = {"flow": "photo's pixels moved by the edit's flow, plus what the flow does not explain",
               "delta": "the edit's change added to the photo as it is",
               "face": "the generator's face pasted in"}
DEFAULT_PASTE_MODE = "flow"

__all__ = [
    "ALIGN_SPECS", "CELEBA_DCGAN", "CENTER", "FFHQ", "Aligned", "AlignSpec", "align", "align_face",
    "apply_transform", "face_quad", "get_align_spec", "quad_from_points", "quad_transform",
    "Face", "NoFaceError", "detect_faces", "face_landmarks", "faces_json", "fit_landmarks", "pick_face",
    "require_face",
    "draw_landmarks", "face_mask", "paste_back", "paste_edit", "paste_flow", "paste_mask", "render_flow", "PASTE_MODES",
    "DEFAULT_PASTE_MODE",
]
