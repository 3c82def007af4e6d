"""Live notebook views of builds, snapshots and runs, with static fallbacks.

Everything here is built from stock ipywidgets and HTML so it renders in
JupyterLab, Notebook 7 and VS Code; without a widget front end the same
information is printed as text. Nothing here speaks HTTP: data comes from the
SDK, called by the magics.
"""

from .build_log import BuildLogWidget, BuildProgress
from .log_buffer import LogBuffer
from .snapshot_table import SnapshotTable

__all__ = ["BuildLogWidget", "BuildProgress", "LogBuffer", "SnapshotTable"]
