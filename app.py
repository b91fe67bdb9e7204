"""ganinv web app launcher: flags, login, exposure warnings, build, launch.

    python app.py [--port 7860] [--host 127.0.0.1] [--share] [--auth user:pass]
                  [--device cpu|cuda] [--max-upload-mb 20] [--max-concurrency 1]

The app itself is the ``webapp`` package (one module per tab over ``ganinv.actions``).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys

from ganinv.actions import InputError
from ganinv.actions.models import check_device
from webapp import MAX_SESSIONS, build_app
from webapp.process import freeze_startup, release_gpu_libraries, release_openmp_threads, skip_triton, tune_malloc

__all__ = ["main", "parse_args", "parse_auth", "startup_warnings", "build_app"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="ganinv web app (Gradio).")
    env = os.environ.get
    # Hosts such as Hugging Face Spaces configure the app through the environment (no command line).
    p.add_argument("--port", type=int, default=int(env("GRADIO_SERVER_PORT") or 7860),
                   help="default: env GRADIO_SERVER_PORT or 7860")
    p.add_argument("--host", default=env("GRADIO_SERVER_NAME") or "127.0.0.1",
                   help="interface to listen on (0.0.0.0: every interface; default: env GRADIO_SERVER_NAME or "
                        "127.0.0.1)")
    p.add_argument("--share", action="store_true", help="public gradio.live link (needs internet)")
    p.add_argument("--auth", default=os.environ.get("GANINV_AUTH"),
                   help="user:password login (default: env GANINV_AUTH)")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when present")
    p.add_argument("--max-upload-mb", type=float, default=float(env("GANINV_MAX_UPLOAD_MB") or 20.0),
                   help="default: env GANINV_MAX_UPLOAD_MB or 20")
    p.add_argument("--max-concurrency", type=int, default=int(env("GANINV_MAX_CONCURRENCY") or 1),
                   help="compute events run at once (default: env GANINV_MAX_CONCURRENCY or 1)")
    return p.parse_args(argv)


def parse_auth(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise SystemExit("--auth / GANINV_AUTH must look like user:password")
    return user, password


def startup_warnings(args: argparse.Namespace, auth) -> list[str]:
    """Exposure warnings for a public host or a share link."""
    no_login = "" if auth else "; it has no login (use --auth user:pass or GANINV_AUTH)"
    out = []
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        out.append(f"listening on {args.host}: other machines on the network can reach this app{no_login}.")
    if args.share:
        out.append(f"--share publishes the app on a public gradio.live URL (needs internet): anyone with the "
                   f"link can use it{no_login}.")
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tune_malloc()                    # before the requests' allocations (webapp/process.py: what and why)
    auth = parse_auth(args.auth)
    try:
        check_device(args.device)
    except InputError as e:
        raise SystemExit(str(e)) from None
    skip_triton(args.device)
    for warning in startup_warnings(args, auth):
        print(f"WARNING: {warning}", file=sys.stderr)
    demo = build_app(device=args.device, max_concurrency=max(1, args.max_concurrency))
    freeze_startup()
    release_gpu_libraries(args.device)
    release_openmp_threads()         # the start-up's OpenMP team (webapp/process.py: why)
    # Service managers (and tests) stop the app with SIGTERM, whose default action skips atexit and so
    # would leave every session's temp folder behind: exit normally instead.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth,
                max_file_size=int(args.max_upload_mb * (1 << 20)), ssr_mode=False, show_error=False,
                state_session_capacity=MAX_SESSIONS)


if __name__ == "__main__":
    main()
