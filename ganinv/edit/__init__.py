"""Latent editing: directions as data, InterFaceGAN, SeFa, GANSpace, morphing and mixing.

    from ganinv.edit import load_direction, edit
    smile = load_direction("smile", G=G)                 # directions/<model>/smile.npy + .json
    out = edit(G, z, "Z", [smile], [2.0])                # out.latent, out.image

One module per method family: ``interfacegan`` (supervised boundaries, conditional
directions), ``sefa`` (closed-form factorisation), ``ganspace`` (PCA), ``mixing``
(morphs, GIF/MP4, crossover, expression transfer); ``apply`` holds the shared pure edit
math and ``directions`` the file format.
"""
from .apply import EditResult, apply_directions, edit, layer_mask, parse_layers, sweep
from .directions import (Direction, DirectionError, directions_root, list_directions, load_direction,
                         save_direction, validate_direction)
from .interfacegan import (BoundaryResult, ConditionalResult, EditEffect, LabelledSamples, conditional,
                           conditional_direction, measure_effect, sample_and_score, train_boundary,
                           train_direction)
from .ganspace import ganspace
from .mixing import (CrossoverError, ExpressionResult, FeatureCrossoverResult, MorphResult, animation_bytes,
                     crossover, crossover_wplus, expression_transfer, feature_crossover, morph, save_animation,
                     save_gif, save_mp4)
from .sefa import Components, sefa

__all__ = ["EditResult", "apply_directions", "edit", "layer_mask", "parse_layers", "sweep", "Direction",
           "DirectionError", "directions_root", "list_directions", "load_direction", "save_direction",
           "validate_direction", "BoundaryResult", "ConditionalResult", "EditEffect", "LabelledSamples",
           "conditional", "conditional_direction", "measure_effect", "sample_and_score", "train_boundary",
           "train_direction", "ganspace", "Components", "sefa", "CrossoverError", "ExpressionResult",
           "FeatureCrossoverResult", "MorphResult", "animation_bytes", "crossover", "crossover_wplus",
           "expression_transfer", "feature_crossover", "morph", "save_animation", "save_gif", "save_mp4"]
