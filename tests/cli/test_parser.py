"""The parser: every command is there, every option's default is its action's, usage and internal
errors are one line."""
from __future__ import annotations

import argparse
import inspect

import pytest

from ganinv.actions import InputError, mix, models
from ganinv.cli import build_parser, main
from ganinv.settings import DEFAULT_MODEL

COMMANDS = {"models", "sample", "invert", "encode", "invert-hybrid", "invert-layerwise", "train-encoder", "faces",
            "edit", "train-boundary", "discover", "morph", "mix", "diffuse", "text-edit", "train-mapper",
            "apply-mapper", "global-directions", "global-edit", "restore", "evaluate"}

# Per command, the options that must be compared with the action (the test fails if one is not found):
# argparse dest = the action's parameter name.
COMPARED = {
    "sample": {"seeds", "truncation_psi", "model", "device"},
    "invert": {"method", "space", "steps", "perceptual_weight", "restarts", "seed", "align", "face", "n_codes",
               "layer", "l_dom", "optimizer", "lr", "latent_steps", "l_reg", "tune_steps", "encoder", "identity", "model"},
    "encode": {"align", "face", "encoder", "identity", "model"},
    "invert-hybrid": {"steps", "optimizer", "lr", "perceptual_weight", "l_dom", "encoder"},
    "invert-layerwise": {"layer", "steps", "latent_steps", "l_reg", "lr", "encoder"},
    "train-encoder": {"out", "steps", "minutes", "batch", "lr", "l_vgg", "l_adv", "l_latent", "l_code", "r1_gamma",
                      "space", "e4e", "perceptual", "images", "resume", "save_every", "eval_samples", "seed"},
    "faces": set(),
    "edit": {"without", "keep_tone", "layers", "root", "model"},
    "train-boundary": {"scorer", "num_samples", "seed", "fraction", "space", "without", "root"},
    "discover": {"method", "num_components", "layers", "layer", "num_samples", "seed", "strength"},
    "morph": {"num_frames", "method", "fps", "boomerang", "min_size", "invert_steps"},
    "mix": {"mode", "layers", "layer", "feature_mode", "region", "fraction", "seed", "strength", "threshold",
            "invert_steps"},
    "diffuse": {"encoder", "box", "feather", "num_steps", "l_dom"},
    "text-edit": {"steps", "lr", "l2_weight", "id_weight", "strict"},
    "train-mapper": {"steps", "batch", "lr", "l2_weight", "id_weight", "truncation_psi", "seed", "strict", "out"},
    "apply-mapper": {"strength"},
    "global-directions": {"images", "perturb", "include_torgb", "stats", "batch", "max_channels", "restart", "seed",
                          "out"},
    "global-edit": {"alpha", "beta", "directions"},
    "restore": {"align", "mask", "hole", "factor", "codes", "layer", "steps"},
    "evaluate": {"out", "methods", "limit", "seed", "steps", "tune_steps", "perceptual_weight", "batch_size", "engine",
                 "address", "workers", "cpus_per_worker", "num_gpus_per_worker", "model", "device"},
}


def subparsers() -> dict[str, argparse.ArgumentParser]:
    p = build_parser()
    (sub,) = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_command_is_registered():
    assert set(subparsers()) == COMMANDS


@pytest.mark.parametrize("command", sorted(COMMANDS - {"models"}))
def test_option_defaults_are_the_actions_signature_defaults(command):
    """Introspection: an option feeding an action parameter has that parameter's default, so the CLI,
    the app and Python cannot drift apart."""
    s = subparsers()[command]
    actions, fixed = s.get_default("actions"), s.get_default("fixed")
    assert actions, f"{command} names no action"
    compared = set()
    for opt in s._actions:
        if opt.dest in fixed:
            continue
        for fn in actions:
            p = inspect.signature(fn).parameters.get(opt.dest)
            if p is None or p.default is inspect.Parameter.empty:
                continue
            assert opt.default == p.default and type(opt.default) is type(p.default), \
                f"{command} {opt.option_strings}: {opt.default!r} but {fn.__qualname__}() has {p.default!r}"
            compared.add(opt.dest)
    missing = COMPARED[command] - compared
    assert not missing, f"{command}: options {sorted(missing)} not found or not fed to {actions}"


def test_aliases_fix_the_method():
    s = subparsers()
    assert {n: s[n].get_default("method") for n in ("encode", "invert-hybrid", "invert-layerwise")} == \
        {"encode": "encoder", "invert-hybrid": "hybrid", "invert-layerwise": "layerwise"}
    assert "--method" not in s["invert-hybrid"].format_help()
    assert s["invert"].get_default("model") == DEFAULT_MODEL


def test_mix_defaults_are_crossover_and_expression_defaults():
    """mix() forwards to crossover() / expression(): the same defaults, from one home."""
    def d(fn, name):
        return inspect.signature(fn).parameters[name].default
    for name in ("region", "fraction", "seed", "invert_steps", "model"):
        assert d(mix.mix, name) == d(mix.crossover, name), name
    assert d(mix.mix, "feature_mode") == d(mix.crossover, "mode")
    for name in ("strength", "threshold"):
        assert d(mix.mix, name) == d(mix.expression, name), name


@pytest.mark.parametrize("argv, fragment", [
    (["invert"], "the following arguments are required: input"),
    (["invert", "x.png", "--method", "gradient"], "invalid choice: 'gradient'"),
    (["no-such-command"], "invalid choice: 'no-such-command'"),
    (["morph", "--seeds", "1"], "expected 2 arguments"),
])
def test_usage_errors_are_one_line(cli, argv, fragment):
    r = cli(*argv)
    assert r.code == 2 and r.out == ""
    assert len(r.err_lines) == 1 and r.err_lines[0].startswith("error: ") and fragment in r.err_lines[0]


def test_user_error_is_one_line_and_debug_shows_the_traceback(cli, monkeypatch):
    r = cli("edit", "--direction", "smile=nan")
    assert r.code == 2 and r.err_lines == ["error: Strength of 'smile' must be a number from -10 to 10, got nan."]
    monkeypatch.setenv("GANINV_DEBUG", "1")
    with pytest.raises(InputError, match="Strength of 'smile'"):
        main(["edit", "--direction", "smile=nan"])


def test_unexpected_error_is_one_line_without_server_paths(cli, monkeypatch):
    def broken():
        raise RuntimeError("cannot read /srv/secret/ganinv/checkpoints/model.pkl\n  second line")
    monkeypatch.setattr(models, "list_models", broken)
    r = cli("models")
    assert r.code == 1 and len(r.err_lines) == 1
    assert r.err_lines[0] == ("error: unexpected RuntimeError: cannot read model.pkl second line "
                              "(GANINV_DEBUG=1 shows the traceback)")


def test_missing_file_message_shows_no_absolute_path(cli, tmp_path):
    r = cli("invert", tmp_path / "nowhere" / "photo.png")
    assert r.code == 2 and r.err_lines == ["error: no such file or folder: photo.png"]
    assert str(tmp_path) not in r.err
