"""The ``tusou`` command: serve, import, search, libraries, eval, keys."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tusou.config import DEFAULT_DATA_DIR, Settings
from tusou.images.files import image_files


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(data_dir=args.data_dir)


@contextmanager
def _engine(args: argparse.Namespace) -> Iterator[Any]:
    """The engine on ``--data-dir``, closed (indexes saved) however the command ends."""
    # Imported here so that `tusou --help` does not load numpy, OpenCV and ONNX Runtime.
    from tusou.engine import Engine

    engine = Engine(_settings(args))
    try:
        yield engine
    finally:
        engine.close()


def _truncate_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


# --- serve ------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from tusou.api import create_app

    settings = _settings(args)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    print(f"tusou serving {settings.data_dir.resolve()} on http://{args.host}:{args.port} "
          f"(API docs at /docs)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=settings.log_level,
                access_log=False)
    return 0


# --- import -----------------------------------------------------------------------------


def _journal_path(settings: Settings, key: str, root: Path) -> Path:
    # ``key`` names the library instance (its id, or the server and creation time): a
    # library deleted and created again under the same name starts a fresh journal.
    digest = hashlib.sha256(f"{key}\0{root.resolve()}".encode()).hexdigest()[:20]
    return settings.data_dir / "imports" / f"{digest}.jsonl"


class _ImportFailed(Exception):
    """One file could not be added; the message says why."""


# add(data, brief) -> True when added, False when already present; raises _ImportFailed.
AddFn = Callable[[bytes, str], bool]


@contextmanager
def _local_target(args: argparse.Namespace) -> Iterator[tuple[str, AddFn] | None]:
    from tusou.engine import ImageSource
    from tusou.errors import DuplicateImage, LibraryNotFound, TusouError

    with _engine(args) as engine:
        try:
            library = engine.library(args.library)
        except LibraryNotFound:
            if not args.kind:
                yield None
                return
            engine.create_library(args.library, args.kind)
            library = engine.library(args.library)

        def add(data: bytes, brief: str) -> bool:
            try:
                library.add(ImageSource(data=data), brief=brief)
            except DuplicateImage:
                return False
            except TusouError as exc:
                raise _ImportFailed(f"{exc.code}: {exc.message}") from None
            return True

        yield f"library-{library.record.id}", add


@contextmanager
def _remote_target(args: argparse.Namespace) -> Iterator[tuple[str, AddFn] | None]:
    from tusou.client import TusouClient, TusouError

    key, secret = os.environ.get("TUSOU_API_KEY"), os.environ.get("TUSOU_SECRET_KEY")
    with TusouClient(args.server, auth=(key, secret) if key and secret else None) as client:
        try:
            info = client.library(args.library)
        except TusouError as exc:
            if exc.code != "library_not_found":
                raise
            if not args.kind:
                yield None
                return
            info = client.create_library(args.library, args.kind)

        def add(data: bytes, brief: str) -> bool:
            try:
                client.add(args.library, data, brief=brief)
            except TusouError as exc:
                if exc.code == "duplicate_image":
                    return False
                raise _ImportFailed(f"{exc.code}: {exc.message}") from None
            return True

        yield f"{args.server}|{args.library}|{info['created_at']}", add


def cmd_import(args: argparse.Namespace) -> int:
    root = Path(args.directory)
    if not root.is_dir():
        print(f"error: {root} is not a directory", file=sys.stderr)
        return 2
    target = _remote_target(args) if args.server else _local_target(args)
    with target as opened:
        if opened is None:
            print(f"error: no library {args.library!r}; pass --kind to create it",
                  file=sys.stderr)
            return 2
        key, add = opened
        return _import_files(root, _journal_path(_settings(args), key, root), add, args.quiet)


def _import_files(root: Path, journal: Path, add: AddFn, quiet: bool) -> int:
    from tqdm import tqdm

    from tusou.engine.params import MAX_BRIEF_BYTES

    # The journal makes an interrupted import resumable: files it lists are skipped.
    journal.parent.mkdir(parents=True, exist_ok=True)
    done: set[str] = set()
    if journal.exists():
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                done.add(json.loads(line)["path"])
            except (ValueError, KeyError):
                continue  # a line cut short by a crash
    files = [p for p in image_files(root) if str(p.relative_to(root)) not in done]
    counts = {"added": 0, "present": 0, "failed": 0, "skipped": len(done)}
    failures: list[str] = []
    with open(journal, "a", encoding="utf-8") as log, \
            tqdm(files, unit="img", disable=quiet, file=sys.stderr) as bar:
        for path in bar:
            rel = str(path.relative_to(root))
            try:
                status = "added" if add(path.read_bytes(), _truncate_utf8(path.name, MAX_BRIEF_BYTES)) \
                    else "present"
            except _ImportFailed as exc:
                status = "failed"
                failures.append(f"{rel}: {exc}")
            except OSError as exc:
                status = "failed"
                failures.append(f"{rel}: unreadable: {exc}")
            counts[status] += 1
            # Failed files are retried on the next run; the others are not.
            if status != "failed":
                log.write(json.dumps({"path": rel, "status": status}) + "\n")
                log.flush()
    print(f"added {counts['added']}, already present {counts['present']}, "
          f"failed {counts['failed']}, skipped (done before) {counts['skipped']}")
    for line in failures:
        print(f"  failed: {line}")
    return 1 if counts["failed"] and not counts["added"] and not counts["present"] else 0


# --- search -----------------------------------------------------------------------------


def cmd_search(args: argparse.Namespace) -> int:
    from tusou.engine import ImageSource, make_filter, parse_tags, validate_page

    with _engine(args) as engine:
        library = engine.library(args.library)
        try:
            source = (ImageSource(url=args.image)
                      if args.image.startswith(("http://", "https://"))
                      else ImageSource(data=Path(args.image).read_bytes()))
        except OSError as exc:
            print(f"error: cannot read {args.image}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        tag_filter = make_filter(library.spec, tags=parse_tags(args.tags), logic=args.tag_logic)
        page = library.search(source, tag_filter=tag_filter, page=validate_page(0, args.rn))
    if args.json:
        print(json.dumps([{"cont_sign": h.cont_sign, "score": h.score, "brief": h.image.brief,
                           "tags": list(h.image.tags)} for h in page.hits], ensure_ascii=False))
        return 0
    if not page.hits:
        print("no results")
    for hit in page.hits:
        print(f"{hit.score:.4f}  {hit.cont_sign:<22}  {hit.image.brief}")
    return 0


# --- libraries --------------------------------------------------------------------------


def cmd_libraries(args: argparse.Namespace) -> int:
    with _engine(args) as engine:
        if args.action == "create":
            engine.create_library(args.name, args.kind, store_originals=args.store_originals)
            print(f"created {args.name} ({args.kind})")
        elif args.action == "delete":
            engine.delete_library(args.name)
            print(f"deleted {args.name}")
        elif args.action == "refresh":
            refreshed, skipped = engine.library(args.name).refresh_keypoints()
            print(f"refreshed the local features of {refreshed} images of {args.name}"
                  + (f"; {skipped} without a readable stored original kept theirs" if skipped else ""))
        else:
            records = engine.libraries()
            if not records:
                print("no libraries")
            for r in records:
                print(f"{r.name:<32} {r.kind:<12} {r.image_count:>9} images")
    return 0


# --- keys -------------------------------------------------------------------------------


def cmd_keys(args: argparse.Namespace) -> int:
    with _engine(args) as engine:
        credentials = engine.credentials
        if args.action == "add":
            record = credentials.add_key(args.api_key, args.secret_key, args.name or "")
            print(f"added {record.api_key}" + (f" ({record.name})" if record.name else ""))
        elif args.action == "remove":
            if not credentials.remove_key(args.api_key):
                print(f"error: no API key {args.api_key}", file=sys.stderr)
                return 1
            print(f"removed {args.api_key} (its tokens are revoked)")
        else:
            records = credentials.keys()
            if not records:
                print("no keys")
            for k in records:  # never the secret
                print(f"{k.api_key:<40} {k.name:<24} {k.created_at:%Y-%m-%d %H:%M}")
    return 0


# --- eval -------------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    from tusou.evaluation.command import run

    return run(args)


# --- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tusou", description="Self-hosted image search.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=os.environ.get("TUSOU_DATA_DIR", DEFAULT_DATA_DIR),
                        help="data directory (default: $TUSOU_DATA_DIR or ./tusou-data)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)

    imp = sub.add_parser("import", parents=[common], help="add every image of a folder")
    imp.add_argument("directory")
    imp.add_argument("--library", required=True)
    imp.add_argument("--kind", help="create the library with this kind if it does not exist")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.add_argument("--server", help="add through a running tusou at this URL (e.g. "
                     "http://127.0.0.1:8000) instead of opening --data-dir directly; the "
                     "resume journal still lives under --data-dir; credentials, if the server "
                     "wants them, from $TUSOU_API_KEY and $TUSOU_SECRET_KEY")
    imp.set_defaults(func=cmd_import)

    search = sub.add_parser("search", parents=[common], help="search a library by image")
    search.add_argument("image", help="image file or http(s) URL")
    search.add_argument("--library", required=True)
    search.add_argument("--rn", type=int, default=10, help="number of results")
    search.add_argument("--tags", default=None, help="filter, e.g. '1,2'")
    search.add_argument("--tag-logic", choices=["and", "or"], default="and")
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=cmd_search)

    libs = sub.add_parser("libraries", parents=[common],
                          help="list, create or delete libraries; refresh: extract a same or "
                          "picturebook library's local features again from its stored originals")
    libs.add_argument("action", nargs="?", choices=["list", "create", "delete", "refresh"],
                      default="list")
    libs.add_argument("name", nargs="?")
    libs.add_argument("--kind", default="similar")
    libs.add_argument("--store-originals", action="store_true")
    libs.set_defaults(func=cmd_libraries)

    evaluation = sub.add_parser(
        "eval", help="measure retrieval quality: build a library from images, query it, print "
        "recall@1 / mAP@10 / P@10 / N-S (the standard suite per kind without --images)")
    from tusou.evaluation.arguments import add_arguments

    add_arguments(evaluation)
    evaluation.set_defaults(func=cmd_eval)

    keys = sub.add_parser("keys", parents=[common],
                          help="API keys for the vendor-compatible faces")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    keys_add = keys_sub.add_parser("add", parents=[common], help="register an API key pair")
    keys_add.add_argument("--api-key", required=True)
    keys_add.add_argument("--secret-key", required=True)
    keys_add.add_argument("--name")
    keys_sub.add_parser("list", parents=[common], help="list API keys (never secrets)")
    keys_rm = keys_sub.add_parser("remove", parents=[common], help="remove a key, revoke tokens")
    keys_rm.add_argument("api_key")
    keys.set_defaults(func=cmd_keys)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Request threads and ONNX Runtime already use the cores; BLAS thread pools spinning
    # between small numpy calls only starve them. Must be set before numpy is imported.
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "libraries" and args.action in ("create", "delete", "refresh") and not args.name:
        parser.error(f"libraries {args.action} needs a NAME")
    from tusou.client import TusouError as RemoteError
    from tusou.errors import TusouError

    try:
        return int(args.func(args) or 0)
    except (TusouError, RemoteError) as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2 if args.command == "import" else 1


if __name__ == "__main__":
    sys.exit(main())
