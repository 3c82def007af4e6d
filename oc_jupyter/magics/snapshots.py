"""``%oc_snapshots`` and ``%oc_snapshot create|delete|info``: named, shareable images."""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from ..widgets import render
from . import bridge

__all__ = ["SnapshotMagics", "SnapshotSummary", "create_snapshot"]


class SnapshotSummary:
    """What ``%oc_snapshot info`` shows: status, short hash, dates, steps and embedded files (never their content)."""

    def __init__(self, info) -> None:
        self.info = info

    def _repr_html_(self) -> str:
        return render.snapshot_detail_html(self.info)

    def __repr__(self) -> str:
        return render.snapshot_detail_text(self.info)


def _existing(snaps, name: str, image):
    """The snapshot ``name`` when it already exists and is not ``failed`` (the backend replaces a failed one)."""
    from ..sdk import errors, sync

    try:
        info = sync.run(snaps.get(name))
    except errors.NotFound:
        return None
    except errors.OCError as exc:
        raise UsageError(f"Could not read snapshot {name!r}: {exc}") from None
    if info.status == "failed":
        return None
    key = image.cache_key()
    if info.content_hash != key:
        raise UsageError(
            f"Snapshot {name!r} already exists with a different image (hash {render.short_hash(info.content_hash)}…); "
            f"delete it with %oc_snapshot delete {name} or choose another name."
        )
    return info


def create_snapshot(state, name: str, image, view=None):
    """Build ``image`` as snapshot ``name`` with the live build log (``view``, or a new one); returns its info.

    Re-running the same cell is harmless: a snapshot already built from this
    image is reported as a cache hit, and one still building is followed to its end.
    """
    from ..sdk import BuildLog, errors
    from ..sdk.builds import reattach_log
    from ..widgets import BuildLogWidget

    snaps = state.snapshots()
    existing = _existing(snaps, name, image)
    if view is None:
        view = BuildLogWidget(f"Snapshot {name}", image=image, tail_lines=state.settings.log_tail_lines)
    if existing is not None and existing.status == "ready":
        said = f"Snapshot {name!r} is already built from this image; nothing to do."
        view.feed(BuildLog({"type": "cache_hit", "step": 0, "message": said}))
        view.close(True)
        if view.use_widgets:
            print(said)  # text mode printed it with the log
        return existing
    events = bridge.EventQueue()

    def handle(event):
        if event is not None:
            view.feed(event[1])
        view.pump()

    if existing is not None:
        view.feed(
            reattach_log(
                f"Snapshot {name!r} is already building from this image; "
                "following it by polling its status until the build ends."
            )
        )
        work = snaps.wait_until_ready(name)
    else:
        work = snaps.create(name, image, on_build_logs=events.callback("log"))
    try:
        info = bridge.run(work, events, handle, tick=0.25)
    except errors.BuildFailed as exc:
        view.fail(exc)
        raise UsageError(f"Snapshot {name!r} failed to build: {exc}") from None
    except errors.Conflict:
        view.close(False, f"Snapshot {name!r} already exists.")
        raise UsageError(
            f"Snapshot {name!r} already exists; delete it with %oc_snapshot delete {name} or choose another name."
        ) from None
    except errors.OCError as exc:
        view.fail(exc)
        raise UsageError(f"Could not create snapshot {name!r}: {exc}") from None
    except KeyboardInterrupt:
        view.close(False, "Interrupted; the build may go on in the backend (see %oc_snapshots).")
        raise
    view.close(True)
    return info


@magics_class
class SnapshotMagics(Magics):
    """List, create, inspect and delete named snapshots."""

    def __init__(self, shell, state) -> None:
        super().__init__(shell)
        self.state = state
        self._actions = {"create": self._create, "delete": self._delete, "info": self._info}

    @line_magic
    def oc_snapshots(self, line):
        """Show the named snapshots as a live table (status, hash, created, last used; delete; refresh).

        The table refreshes itself while a snapshot is building.
        """
        if line.strip():
            raise UsageError(f"%oc_snapshots takes no arguments, got {line.strip()!r}.")
        from ..sdk import errors, sync
        from ..widgets import SnapshotTable

        snaps = self.state.snapshots()
        try:
            table = SnapshotTable(lambda: sync.run(snaps.list()), lambda name: sync.run(snaps.delete(name)))
        except errors.OCError as exc:
            raise UsageError(f"Could not list snapshots: {exc}") from None
        if table.error:
            raise UsageError(f"Could not list snapshots: {table.error}")
        table.show()

    @line_magic
    @magic_arguments()
    @argument("action", choices=["create", "delete", "info"], help="What to do.")
    @argument("name", help="Snapshot name.")
    @argument("--image", metavar="NAME", help="For create: the Image variable to snapshot (see %%oc_image).")
    def oc_snapshot(self, line):
        """Create, delete or inspect one named snapshot.

        ::

            %oc_snapshot create SNAP --image NAME   # build the Image bound to NAME as snapshot SNAP
            %oc_snapshot info SNAP                  # status, hash, dates, steps, embedded files
            %oc_snapshot delete SNAP                # sandboxes made from it keep running
        """
        args = parse_argstring(self.oc_snapshot, line)
        return self._actions[args.action](args)

    def _create(self, args):
        from ..sdk import Image

        if not args.image:
            raise UsageError(
                f"%oc_snapshot create needs --image NAME, e.g. %oc_snapshot create {args.name} --image env."
            )
        assert self.shell is not None  # Magics loaded by the extension always have one
        image = self.shell.user_ns.get(args.image)
        if not isinstance(image, Image):
            raise UsageError(
                f"--image {args.image!r} names no Image in this notebook; define it with %%oc_image {args.image}."
            )
        create_snapshot(self.state, args.name, image)

    def _delete(self, args):
        from ..sdk import errors, sync

        self._no_image(args)
        try:
            sync.run(self.state.snapshots().delete(args.name))
        except errors.NotFound:
            raise UsageError(f"No snapshot {args.name!r}; %oc_snapshots lists them.") from None
        except errors.OCError as exc:
            raise UsageError(f"Could not delete snapshot {args.name!r}: {exc}") from None
        print(f"Deleted snapshot {args.name!r}.")

    def _info(self, args):
        from ..sdk import errors, sync

        self._no_image(args)
        try:
            info = sync.run(self.state.snapshots().get(args.name))
        except errors.NotFound:
            raise UsageError(f"No snapshot {args.name!r}; %oc_snapshots lists them.") from None
        except errors.OCError as exc:
            raise UsageError(f"Could not read snapshot {args.name!r}: {exc}") from None
        display(SnapshotSummary(info))

    @staticmethod
    def _no_image(args) -> None:
        if args.image:
            raise UsageError(f"--image is for %oc_snapshot create only, not {args.action}.")
