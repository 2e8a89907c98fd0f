"""Snakemake adapter: the face size from which each method applies (manifests and detector views)."""

from _logging import log_to

from safefakes.evaluation.face_sizes import SplitSizes, face_size_table, manifest_of, write_face_sizes

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    splits = [SplitSizes(method, int(faces), int(anon_iters), manifest_of(split), view)
              for (method, faces, anon_iters), split, view in zip(snakemake.params.points, snakemake.input.splits,
                                                                  snakemake.input.views, strict=True)]
    table = face_size_table(splits)
    write_face_sizes(table, snakemake.output.csv, snakemake.output.markdown)
    print(table.drop_duplicates(subset=["anonymizer", "faces", "anon_iters"])[
        ["anonymizer", "faces", "anon_iters", "paints_from_px", "painted_share_from"]].to_string(index=False))
