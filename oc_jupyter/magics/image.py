"""``%%oc_image``: define an image from a recipe cell; show it, build it, or snapshot it."""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from ..widgets import render
from .recipe import RecipeError, parse_recipe, recipe_to_image
from .snapshots import create_snapshot

__all__ = ["ImageMagics", "ImageSummary"]


class ImageSummary:
    """What ``%%oc_image`` shows: steps, embedded files, cache key, and what is already built."""

    def __init__(self, image, name: str, preview=None, preview_known: bool = True) -> None:
        self.image, self.name, self.preview, self.preview_known = image, name, preview, preview_known

    def _repr_html_(self) -> str:
        return render.image_html(self.image, self.name, self.preview, preview_known=self.preview_known)

    def __repr__(self) -> str:
        return render.image_text(self.image, self.name, self.preview)


@magics_class
class ImageMagics(Magics):
    """Define images from recipe cells."""

    def __init__(self, shell, state) -> None:
        super().__init__(shell)
        self.state = state

    @cell_magic
    @magic_arguments()
    @argument("name", help="Variable the Image is bound to in the notebook.")
    @argument("--snapshot", metavar="SNAP", help="Also create a named snapshot SNAP from the image.")
    @argument(
        "--build", action="store_true", help="Build now and keep a sandbox of it ready for %%oc_run --image NAME."
    )
    @argument("--base", metavar="BASE", help="Base image to start from (default: OCJupyter.default_base).")
    def oc_image(self, line, cell):
        """Define a sandbox image from a recipe, one step per line, and bind it to NAME.

        ::

            %%oc_image env --build
            apt curl jq                          # apt_install
            pip requests "pandas>=2"             # pip_install (shell quoting)
            run mkdir -p /workspace/data         # run_commands, one step per line
            env PROJECT_ROOT=/workspace DEBUG=1  # env
            workdir /workspace                   # workdir
            copy data/config.json /workspace/    # add_local_file, from the notebook's folder
            copy src/ /workspace/src             # add_local_dir (a folder)
            file /workspace/hello.txt <<EOF      # add_file; the body is taken verbatim
            hello
            EOF

        Keywords are case-insensitive; RUN, ENV, WORKDIR and COPY work as in a
        Dockerfile. ``#`` comments, blank lines, ``\\`` continuations and
        ``{name}`` values from the notebook (``{{`` for a literal brace) are
        allowed. Relative ``copy`` sources are read from the notebook's folder,
        even after ``%cd``.

        Without flags the cell shows the steps, the embedded files, the cache
        key and which steps are already built. ``--build`` builds it now with
        a live log; ``--snapshot SNAP`` saves it as a named snapshot.
        """
        assert self.shell is not None  # Magics loaded by the extension always have one
        args = parse_argstring(self.oc_image, line)
        if not args.name.isidentifier():
            raise UsageError(f"%%oc_image needs a Python variable name for the image, got {args.name!r}.")
        try:
            instructions = parse_recipe(cell, self.shell.user_ns)
            image = recipe_to_image(instructions, self.state.base_image(args.base))
        except RecipeError as exc:
            raise UsageError(str(exc)) from None
        self.shell.user_ns[args.name] = image
        if args.snapshot:
            create_snapshot(self.state, args.snapshot, image)
        if args.build:
            self._build(args.name, image)
        if not (args.snapshot or args.build):
            display(self._summary(args.name, image))

    def _summary(self, name, image) -> ImageSummary:
        from ..sdk import cache_preview, errors, sync

        try:
            preview = sync.run(cache_preview(image, config=self.state.config))
            known = preview is not None
        except errors.OCError:
            preview, known = None, False
        return ImageSummary(image, name, preview, known)

    def _build(self, name, image) -> None:
        target = self.state.target_for_image(name, image)
        existing = self.state.sandboxes.get(target.ident)
        if existing is not None:
            print(f"Image {name} is built; sandbox {existing.id} is ready for %oc_run --image {name}.")
            return
        sandbox = self.state.create(target, always_show=True)
        print(f"Image {name} is built; sandbox {sandbox.id} is ready for %oc_run --image {name}.")
