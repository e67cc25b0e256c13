"""The run archive: everything a search writes to `runs/<run-id>/`, written so a crash cannot
corrupt it (append-only fsynced JSONL for evaluations, atomic replace for every state file).

See `run_dir.py` for the directory layout and `records.py` for the evaluation record format.
Plotting imports matplotlib lazily, and nothing here imports torch unless a checkpoint is saved.
"""

from nas.archive.atomic import save_torch_atomic, write_bytes_atomic, write_json_atomic, write_text_atomic
from nas.archive.plots import pareto_front, plot_pareto, plot_progress
from nas.archive.records import ArchiveWarning, RecordWriter, make_record, read_records, record_problem, val_acc
from nas.archive.run_dir import RunDir, new_run_id, provenance
from nas.archive.summary import ranked, summarize
from nas.archive.tables import format_table, runs_table, top_table

__all__ = [
    "ArchiveWarning",
    "RecordWriter",
    "RunDir",
    "format_table",
    "make_record",
    "new_run_id",
    "pareto_front",
    "plot_pareto",
    "plot_progress",
    "provenance",
    "ranked",
    "read_records",
    "record_problem",
    "runs_table",
    "save_torch_atomic",
    "summarize",
    "top_table",
    "val_acc",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]
