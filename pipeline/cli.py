"""Command line: `animate-products CATALOG.csv [options]` and `animate-products motions list`.
The only place that prints and turns errors into exit codes; heavy modules are imported after parsing."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.errors import EXIT_OK, EXIT_SOME_FAILED, AnimateError, UsageError

EPILOG = """exit codes: 0 every product done, already done, or held for review by the quality gate (status
review, see report.csv's failed_checks); 3 some products failed (see report.json); 2 bad usage or config;
66 catalog missing or unreadable; 78 a required model file or motion clip is missing.

examples:
  animate-products examples/catalog.csv
  animate-products catalog.csv --motion horse_gallop -o out/ --workers 2 -f mp4,webp
  animate-products catalog.csv --motion my_clip.mp4 --only sku-1,sku-7 --overwrite
  animate-products motions list
  animate-products upscale photo.png -o upscaled/ -s 2.5
  animate-products publish out/ --to published/"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="animate-products", description="Turn a catalog of product photos into looping animations.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("catalog", type=Path, help="CSV with columns product_id,image,category[,motion,title]")
    parser.add_argument("--motion", "-m", help="library motion name (see `motions list`) or a path to your own "
                        "clip (mp4/gif/webm or a folder of frames) for every product; default: the row's motion, "
                        "else the category's")
    parser.add_argument("-o", "--output", type=Path, help="output folder (default: out)")
    parser.add_argument("--workers", "-w", type=_positive_int, help="products processed in parallel (default 1)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where neural models run (default auto)")
    parser.add_argument("--frames", "-n", type=_positive_int, help="frames per animation (default: the clip's "
                        "length; fewer frames sample the clip's whole cycle, more frames loop it)")
    parser.add_argument("--fps", type=float, help="frames per second of the output (default: the clip's, else 24)")
    parser.add_argument("--size", "-s", type=_positive_int, help="cap in pixels on the square the classical motion "
                        "stage renders at (default: the crop's own size; neural models work at 256); smaller "
                        "frames are brought back to the crop's size by super-resolution")
    parser.add_argument("--max-side", type=_positive_int, help="photos with a longer side are downscaled first "
                        "(default 2048)")
    parser.add_argument("-f", "--format", help="animation formats besides mp4: comma list of mp4,webp,gif "
                        "(default mp4; mp4 is always written)")
    parser.add_argument("--matting", help="cut-out method: auto (default: a colour model + watershed on plain "
                        "backdrops, GrabCut on textured ones), plain, grabcut, or rembg:NAME with NAME's ONNX file in "
                        "the weights folder (rembg:u2net, rembg:isnet-general-use, rembg:birefnet-general, ...)")
    parser.add_argument("--inpaint", choices=("auto", "surface", "lattice", "exemplar", "ns", "telea", "lama"),
                        help="background fill (default auto: surface on plain backdrops, lattice on regular "
                        "textures such as tiles, exemplar on other textures; lama needs big-lama.pt in the weights "
                        "folder)")
    parser.add_argument("--shadow", choices=("redraw", "keep", "off"), help="contact shadow: redraw (default: a "
                        "soft shadow under the product's lowest points in every frame, fading as it lifts; a plinth "
                        "keeps its photographed shadow), keep (the photographed shadow stays where it was) or off")
    parser.add_argument("--detector", help="object detector that picks the category's object among several: none "
                        "(default: the largest object near the centre), yolo (yolov8n.onnx in the weights folder) "
                        "or yolo:FILE (another YOLO ONNX export)")
    parser.add_argument("--motion-model", help="motion transfer: classical (default), a neural model from "
                        "`weights list` (fomm-mgif, fomm-taichi, tpsmm-taichi, ...) or the path of a FOMM/TPSMM "
                        "checkpoint (its training config NAME.yaml beside NAME.pth.tar)")
    parser.add_argument("--batch-size", type=_positive_int, help="driving frames per neural forward pass "
                        "(default 8); larger is faster on a GPU, the frames are the same")
    parser.add_argument("--keypoints", "-k", type=_positive_int, help="motion regions/keypoints (default 10)")
    parser.add_argument("--sr-model", help="super-resolution to the crop's size: auto (default: x4plus on a GPU, "
                        "animevideov3 on the CPU, lanczos without weights), animevideov3, x4plus, general-x4v3, "
                        "lanczos, none (plain bicubic) or the path of a Real-ESRGAN .pth")
    parser.add_argument("--sr-tile", type=int, help="frames with a side above N px run through the network in "
                        "N px tiles (default 512; 0: never)")
    parser.add_argument("--sr-tile-pad", type=int, help="overlap in px around each tile (default 10)")
    parser.add_argument("--sr-batch", type=_positive_int, help="frames per super-resolution pass (default 4)")
    parser.add_argument("--sr-fp32", action="store_true", default=None, help="on CUDA, run super-resolution in "
                        "fp32 instead of fp16 autocast")
    parser.add_argument("--engine", choices=("local", "ray"), help="local (default: this machine, --workers "
                        "processes) or ray (CPU stages as Ray tasks, motion and super-resolution as GPU actors; "
                        "needs the ray extra and an output folder every node can reach)")
    parser.add_argument("--ray-address", help="Ray cluster to join (auto, or host:port); default: start a local Ray")
    parser.add_argument("--gate", choices=("off", "warn", "hold"), help="quality checks on each finished product "
                        "(thresholds: gate_* settings in --config, see docs/quality_gate.md): hold (default) marks a "
                        "product failing one `review`, warn records the checks and keeps it done, off skips them")
    parser.add_argument("--overwrite", action="store_true", default=None, help="recompute every stage even if done")
    parser.add_argument("--fail-fast", action="store_true", default=None, help="stop at the first failed product")
    parser.add_argument("--limit", type=_positive_int, help="process only the first N products")
    parser.add_argument("--only", help="process only these product ids (comma list)")
    parser.add_argument("--dry-run", action="store_true", default=None, help="check the catalog and show the plan "
                        "without processing")
    parser.add_argument("--config", "-c", type=Path, help="YAML file of settings (same names as the options); "
                        "options given on the command line win")
    parser.add_argument("--motions-dir", type=Path, help="driving-clip library folder (default: the bundled one)")
    parser.add_argument("--weights-dir", type=Path, help="folder with model files (default: weights/); files are "
                        "never downloaded")
    parser.add_argument("--version", action="version", version="animate-products 0.1.0")
    return parser


def _settings(args: argparse.Namespace) -> dict:
    keys = ("motion", "output", "workers", "device", "frames", "fps", "size", "max_side", "format", "matting",
            "detector", "inpaint", "shadow", "motion_model", "batch_size", "keypoints", "sr_model", "sr_tile",
            "sr_tile_pad", "sr_batch", "sr_fp32", "engine", "ray_address", "overwrite", "fail_fast", "limit", "only",
            "dry_run", "motions_dir", "weights_dir", "gate")
    return {k: getattr(args, k) for k in keys}


def run_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from pipeline.config import PipelineConfig, apply_overrides, load_config_file
    from pipeline.runner import make_plan

    config = PipelineConfig()
    if args.config:
        config = apply_overrides(config, load_config_file(args.config))
    config = apply_overrides(config, _settings(args)).validate()
    return _run_plan(make_plan(args.catalog, config), config)


def _run_plan(plan, config) -> int:
    """Run under the output folder's lock, write the reports and print the summary; the exit code says whether
    every product is done. The plan comes first: a run-wide problem leaves nothing behind."""
    from pipeline.console import print_plan, print_summary, progress_printer
    from pipeline.run_lock import output_lock
    from pipeline.runner import run_plan

    if config.dry_run:
        print_plan(plan, config)
        return EXIT_OK
    with output_lock(config.output), progress_printer(len(plan.items)) as progress:
        report = run_plan(plan, config, progress)
        report.write()
    print_summary(report)
    return EXIT_SOME_FAILED if report.failed else EXIT_OK


def run_job_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="animate-products run-job", description="Run a nightly job: a dated run folder under the job's "
        "output_root, unchanged products reused from earlier runs, `latest` pointed at the run when it ends, then "
        "the job's `publish:` block (if any) publishes its approved products. Exit codes as for the main command, "
        "75 when another run holds the output root's lock, 73 when publishing could not write its folder.")
    parser.add_argument("job", type=Path, help="job file (see jobs/nightly.yaml)")
    parser.add_argument("--engine", choices=("local", "ray"), help="overrides the job's engine")
    parser.add_argument("--ray-address", help="overrides the job's ray_address")
    parser.add_argument("--workers", "-w", type=_positive_int, help="overrides the job's workers")
    parser.add_argument("--overwrite", action="store_true", default=None, help="recompute everything")
    parser.add_argument("--dry-run", action="store_true", default=None, help="check the job and catalog only")
    args = parser.parse_args(argv)
    from models.weights import verify_files
    from pipeline.jobs import choose_run_folder, fetch_catalog, finish_run, job_config, load_job
    from pipeline.runner import make_plan
    from pipeline.run_lock import output_lock

    job = load_job(args.job)
    overrides = {"engine": args.engine, "ray_address": args.ray_address, "workers": args.workers,
                 "overwrite": args.overwrite, "dry_run": args.dry_run}
    with output_lock(job.output_root) as announce:
        run_dir, resumed = choose_run_folder(job.output_root)
        config = job_config(job, run_dir, overrides)
        announce(run_dir)
        print(f"{'resuming unfinished run' if resumed else 'run'} {run_dir}", file=sys.stderr)
        verify_files(None, config.weights_dir)  # every model file present must match its pinned sha256 (else 78)
        status = _run_plan(make_plan(fetch_catalog(job, run_dir, config.allow_hosts), config), config)
        if not config.dry_run:
            finish_run(job, run_dir)
        if job.publish_to is not None and not config.dry_run:  # under the lock: no other run prunes this one meanwhile
            from pipeline.console import print_publish
            from pipeline.publish import publish_run

            print_publish(publish_run(run_dir, job.publish_to, copy=job.publish_copy))
    return status


def publish_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="animate-products publish", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Publish a run's approved products into DEST: DEST/<product_id>/ (animation.mp4, poster.jpg and "
        "any other formats the run wrote) and DEST/manifest.json (files, sha256, size, duration, run). Approved: "
        "done products, and review products approved in RUN_DIR/approvals.csv (product_id,decision,note with "
        "decision approve or reject). The new set replaces the old one at once; unchanged files are not rewritten.",
        epilog="exit codes: 0 published (or already published); 2 RUN_DIR is not a finished run; 73 DEST could not "
        "be written (the published set is left as it was); 75 another publish into DEST is running.\n\n"
        "examples:\n  animate-products publish out/nightly/latest --to /srv/animations\n"
        "  animate-products publish out/ --to published/ --copy")
    parser.add_argument("run", type=Path, help="a run's output folder (or a job's `latest`)")
    parser.add_argument("--to", type=Path, required=True, help="the published folder")
    parser.add_argument("--copy", action="store_true", help="copy files instead of hard-linking them from the run")
    args = parser.parse_args(argv)
    from pipeline.console import print_publish
    from pipeline.publish import publish_run

    print_publish(publish_run(args.run, args.to, copy=args.copy))
    return EXIT_OK


def motions_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="animate-products motions", description="The driving-clip library.")
    parser.add_argument("action", choices=("list",))
    parser.add_argument("--motions-dir", type=Path, help="library folder (default: the bundled one)")
    args = parser.parse_args(argv)
    from pipeline.console import print_motions
    from pipeline.motions_library import DEFAULT_LIBRARY, load_library

    print_motions(load_library(args.motions_dir or DEFAULT_LIBRARY))
    return EXIT_OK


def weights_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="animate-products weights", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Model files in weights/: list them, verify them against the sha256 pinned in the registry, or "
        "pin the files present (once, after dropping in your files; runs then verify them at start).",
        epilog="verify prints OK / MISMATCH / MISSING / NO CHECKSUM / BUNDLED per file and exits 78 when a named "
        "file is missing or any file differs from its pin.\npin writes DIR/registry.yaml (the shipped registry with "
        "your files' sha256), atomically.\n\nexamples:\n  animate-products weights list\n"
        "  animate-products weights pin --weights-dir /srv/weights\n"
        "  animate-products weights verify fomm-mgif realesrgan-x4plus")
    parser.add_argument("action", choices=("list", "verify", "pin"))
    parser.add_argument("names", nargs="*", metavar="NAME", help="verify/pin: registry ids (fomm-mgif, ...) or "
                        "registered file names (fomm/mgif-cpk.pth.tar); default: every model with a file present")
    parser.add_argument("--weights-dir", type=Path, help="folder with the model files (default: weights/, or "
                        "$ANIMATE_PRODUCTS_WEIGHTS_DIR)")
    parser.add_argument("--registry", type=Path, help="verify/pin: the registry file holding the pinned sha256 "
                        "(default: DIR/registry.yaml; verify falls back to the shipped registry when it is absent)")
    parser.add_argument("--force", action="store_true", help="pin: re-pin files that differ from their pinned sha256")
    args = parser.parse_intermixed_args(argv)  # NAMEs before or after the options
    from models.weights import MISMATCH, NO_CHECKSUM, WEIGHTS_DIR, check_files, load_registry, pin_files, \
        raise_for_checks
    from pipeline.console import print_weights

    folder = args.weights_dir or WEIGHTS_DIR
    if args.action == "list":
        if args.names or args.registry or args.force:
            parser.error("list takes no NAME, --registry or --force")
        print_weights(load_registry(), folder)
        return EXIT_OK
    if args.force and args.action != "pin":
        parser.error("--force is for pin")
    if args.action == "verify":
        checks = check_files(args.names, folder, args.registry)
    else:
        result = pin_files(args.names, folder, args.registry, force=args.force)
        checks = result.checks
    if not checks:
        print(f"no model files in {Path(folder).resolve()}; nothing to {args.action} (the classical backends "
              "need none)")
    for check in checks:
        detail = f"  expected {check.expected}, actual {check.actual}" if check.status == MISMATCH else ""
        print(f"{check.status:<12} {check.weight_id} ({check.role})  {check.path}{detail}")
    counts = {status: sum(c.status == status for c in checks) for status in dict.fromkeys(c.status for c in checks)}
    if checks:
        print(f"{len(checks)} file{'s' * (len(checks) != 1)}: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    if args.action == "verify":
        if counts.get(NO_CHECKSUM):
            print("files with NO CHECKSUM are not checked: pin them with `animate-products weights pin`")
        raise_for_checks(checks, folder)
    else:
        state = "wrote" if result.written else "unchanged:"
        print(f"{state} {result.registry}" + ("" if result.comments_kept else
                                              " (rewritten as plain YAML: the registry's comments were not kept)"))
    return EXIT_OK


def train_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="animate-products train", description="Train a motion model on your category's videos "
        "(self-supervised, as the reference does); the checkpoint works with --motion-model PATH.")
    parser.add_argument("--family", choices=("fomm",), required=True, help="model family")
    parser.add_argument("--config", type=Path, required=True, help="model and training settings: a shipped "
                        "models/configs/fomm/*.yaml or the reference's own config file")
    parser.add_argument("--videos", type=Path, required=True, help="folder of clips (mp4/gif/... or folders of "
                        "frames) of one kind of object, each showing it move")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint to write (NAME.pth.tar; its config is "
                        "written beside it as NAME.yaml)")
    parser.add_argument("--steps", type=_positive_int, help="optimisation steps (default: the config's epochs)")
    parser.add_argument("--batch-size", type=_positive_int, help="frame pairs per step (default: the config's)")
    parser.add_argument("--size", type=_positive_int, default=256, help="training frame side (default 256)")
    parser.add_argument("--vgg19", type=Path, help="torchvision VGG-19 state dict for the perceptual loss "
                        "(without it a pixel loss is used)")
    parser.add_argument("--resume", type=Path, help="checkpoint of an earlier run to continue from")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--checkpoint-every", type=_positive_int, default=500, help="steps between checkpoints")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from pipeline.console import print_notes, training_progress
    from pipeline.motion.model_choice import config_beside
    from pipeline.training.fomm import FommTrainer, TrainSettings

    settings = TrainSettings(args.config, args.videos, args.out, args.steps, args.batch_size, args.size, args.vgg19,
                             args.resume, args.device, args.checkpoint_every, args.seed)
    trainer = FommTrainer(settings)
    print_notes(trainer.notes)
    with training_progress(trainer.total_steps, trainer.step) as on_step:
        out = trainer.run(on_step)
    print(f"checkpoint: {out} (config {config_beside(out)}); animate with --motion-model {out}")
    return EXIT_OK


def upscale_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="animate-products upscale", description="Upscale image files with the stage-4 super-resolution "
        "(Real-ESRGAN, offline); transparent images keep their alpha. Writes OUTPUT/<name>.png.")
    parser.add_argument("images", type=Path, nargs="+", help="image files")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for the upscaled PNGs")
    parser.add_argument("-s", "--outscale", type=float, default=4.0, help="final scale, any factor (default 4: "
                        "the network's x4, then an area downscale, or Lanczos beyond x4)")
    parser.add_argument("--sr-model", default="auto", help="as for the pipeline (default auto)")
    parser.add_argument("--tile", type=int, help="inputs with a side above N px run in N px tiles (default 512; "
                        "0: never)")
    parser.add_argument("--tile-pad", type=int, help="overlap in px around each tile (default 10)")
    parser.add_argument("--fp32", action="store_true", default=None, help="on CUDA, no fp16 autocast")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default auto")
    parser.add_argument("--weights-dir", type=Path, help="folder with model files (default: weights/)")
    args = parser.parse_args(argv)
    if not 0 < args.outscale <= 16:
        raise UsageError("--outscale must be above 0 and at most 16")
    from pipeline.config import PipelineConfig, apply_overrides
    from pipeline.upscale_images import upscale_files

    config = apply_overrides(PipelineConfig(), {"sr_model": args.sr_model, "sr_tile": args.tile,
                                                "sr_tile_pad": args.tile_pad, "sr_fp32": args.fp32,
                                                "device": args.device, "weights_dir": args.weights_dir}).validate()
    report = upscale_files(args.images, args.output, config, args.outscale)
    for result in report.results:
        done = f"{result.output} ({result.size[1]}x{result.size[0]})" if result.output else f"failed: {result.error}"
        print(f"{result.source} -> {done}")
    print(f"{len(report.results) - len(report.failed)} upscaled with {report.model}, {len(report.failed)} failed")
    return EXIT_SOME_FAILED if report.failed else EXIT_OK


SUBCOMMANDS = {"run-job": run_job_main, "publish": publish_main, "motions": motions_main, "weights": weights_main,
               "train": train_main, "upscale": upscale_main}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            return SUBCOMMANDS[argv[0]](argv[1:])
        return run_main(argv)
    except AnimateError as exc:
        print(f"animate-products: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("animate-products: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
