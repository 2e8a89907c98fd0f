"""``safefakes evaluate PRED_DIR --gt GT_DIR``: official WIDER FACE APs of a prediction folder.

The last line of the output is one JSON object ``{"easy": .., "medium": ..,
"hard": ..}``, so scripts can read it with ``tail -n 1``. Only numpy, scipy
(and matplotlib for ``--plot``) are imported: no torch, so it starts fast.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("safefakes.evaluate")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="WIDER FACE AP (easy/medium/hard) of a prediction folder",
        description="Evaluate a prediction folder (<event>/<image>.txt: name, count, 'x y w h score' lines) "
                    "against official-style ground truth, exactly as the WIDER FACE eval_tools do. "
                    "The last line printed is a JSON object {\"easy\": .., \"medium\": .., \"hard\": ..}.",
    )
    p.add_argument("pred_dir", metavar="PRED_DIR", type=Path, help="prediction folder, one sub-folder per event")
    p.add_argument("--gt", metavar="GT_DIR", type=Path, required=True,
                   help="folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat "
                        "(a synthetic val split, or eval_tools/ground_truth of WIDER FACE)")
    p.add_argument("--json", metavar="FILE", type=Path,
                   help="also write the APs to this JSON file (map.json: with the machines that trained and ran "
                        "the detector, from PRED_DIR/detect_info.json)")
    p.add_argument("--plot", metavar="FILE.png", type=Path, help="draw the three PR curves into this image")
    p.add_argument("--label", default=None, help="method name in the plot legend (default: PRED_DIR's name)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import warnings

    from safefakes.data.images import write_text_atomic
    from safefakes.evaluation.wider_ap import EqualScoresWarning, evaluate_folder, scores_record

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EqualScoresWarning)
        result = evaluate_folder(args.pred_dir, args.gt)
    for w in caught:
        if issubclass(w.category, EqualScoresWarning):
            log.warning("%s", w.message)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)

    print(f"images: {result.n_images}  detections: {result.n_detections}  "
          f"missing prediction files: {result.n_missing}")
    for subset, curve in result.curves.items():
        print(f"{subset:<6} AP {curve.ap:.6f}  ({curve.n_faces} faces)")
    if args.json:
        # map.json's content: the APs and the machines of the predictions' detect_info.json.
        write_text_atomic(args.json, json.dumps(scores_record(result, args.pred_dir)) + "\n")
        log.info("wrote %s", args.json)
    if args.plot:
        from safefakes.plots.pr_curves import plot_pr_curves

        label = args.label or args.pred_dir.resolve().name
        plot_pr_curves(args.plot, result, label=label)
        log.info("wrote %s", args.plot)
    print(result.to_json(), flush=True)
    return 0
