"""The quickstart notebook in one command, and the test images it predicts.

    python -m zoo.notebook              # run notebooks/quickstart.ipynb; the executed copy goes to logs/
    python -m zoo.notebook run --output /tmp/quickstart.ipynb
    python -m zoo.notebook open         # open it in JupyterLab (or Jupyter Notebook), if installed

``run`` executes the notebook with nbclient from a temporary working folder (the notebook reads
nothing relative to the current folder) and writes the executed copy, outputs and plots included.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from zoo.errors import DatasetNotFoundError, first_line

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
OUTPUT = ROOT / "logs" / "quickstart.executed.ipynb"
MNIST_TEST = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def default_data_dir() -> Path:
    """``$ZOO_DATA_DIR``, else the shared datasets folder beside the repository (``../shared/datasets``)."""
    return Path(os.environ.get("ZOO_DATA_DIR") or ROOT.parent / "shared" / "datasets")


def mnist_test_set(data_dir: str | Path | None = None) -> tuple[Any, Any]:
    """MNIST's 10,000 test images ``(N, 1, 28, 28)`` uint8 and their labels ``(N,)`` int64, read from the
    official IDX files (gzipped or not) under ``data_dir`` (default: ``default_data_dir()``) in
    torchvision's layout (``MNIST/raw/``); a one-line ``DatasetNotFoundError`` when they are not there."""
    from datamodules.idx import read_idx
    from datamodules.mnist import MNISTDataModule

    root = Path(data_dir) if data_dir else default_data_dir()
    module = MNISTDataModule(root=root, download=False)
    module.files = MNIST_TEST  # only the test files are needed
    files = module.find_files(module.candidate_folders())
    if files is None:
        raise DatasetNotFoundError(
            f"no MNIST test files ({', '.join(MNIST_TEST)}, or .gz) in {root / 'MNIST' / 'raw'}:"
            " set DATA_DIR (or $ZOO_DATA_DIR) to a folder holding MNIST/raw/"
        )
    images, labels = (read_idx(files[name]) for name in MNIST_TEST)
    module.check_arrays(images, labels, files[MNIST_TEST[0]], files[MNIST_TEST[1]])
    return images.unsqueeze(1), labels.long()


def digits_like_mnist() -> tuple[Any, Any]:
    """scikit-learn's 1,797 8x8 digits drawn like MNIST: upscaled to 20x20 (bilinear) and centred in
    28x28, as uint8 0-255 ``(N, 1, 28, 28)``, with their labels ``(N,)``. They are not MNIST (other
    writers, far coarser scans): a stand-in where MNIST is not on the machine, on which a MNIST
    model's accuracy is only illustrative."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16  # values 0-16
    images = F.pad(F.interpolate(images, size=20, mode="bilinear"), (4, 4, 4, 4)).clamp(0, 1)
    return (images * 255).round().to(torch.uint8), torch.tensor(digits.target, dtype=torch.long)


def set_parameters(notebook: Any, parameters: dict[str, Any]) -> None:
    """Override variables of the notebook's parameter cell (the code cell tagged ``parameters``) by
    appending ``NAME = repr(value)`` to it; a name that cell does not assign is a ``ValueError``."""
    cells = [cell for cell in notebook.cells if "parameters" in cell.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError("the notebook has no cell tagged 'parameters'")
    cell = cells[0]
    tree = ast.parse(cell.source)
    assigned = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    unknown = sorted(set(parameters) - assigned)
    if unknown:
        raise ValueError(f"the parameter cell sets no {', '.join(unknown)}; it sets {', '.join(sorted(assigned))}")
    assignments = "".join(f"{name} = {value!r}\n" for name, value in parameters.items())
    cell.source += f"\n# set by zoo.notebook\n{assignments}"


def execute(
    notebook: str | Path = NOTEBOOK, output: str | Path = OUTPUT, parameters: dict[str, Any] | None = None,
    timeout: int = 600,
) -> Path:  # fmt: skip
    """Run ``notebook`` top to bottom in a fresh ``python3`` kernel whose working folder is a new
    temporary one, and write the executed copy to ``output`` (also when a cell fails, to show where:
    nbclient's ``CellExecutionError`` is raised after). ``parameters`` override the parameter cell."""
    import nbformat
    from nbclient import NotebookClient

    from zoo.atomic import atomic_write_text

    nb = nbformat.read(notebook, as_version=4)
    if parameters:
        set_parameters(nb, parameters)
    env = dict(os.environ)
    if env.get("ZOO_DATA_DIR"):  # a relative one names a folder from here, not from the kernel's folder
        env["ZOO_DATA_DIR"] = str(Path(env["ZOO_DATA_DIR"]).resolve())
    try:
        with tempfile.TemporaryDirectory(prefix="zoo-notebook-") as folder:
            quiet = ["--IPKernelApp.log_level=ERROR"]  # no kernel start-up warnings on the terminal
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3", extra_arguments=quiet,
                                    resources={"metadata": {"path": folder}})  # fmt: skip
            client.execute(env=env)
    finally:
        atomic_write_text(output, nbformat.writes(nb))
    return Path(output)


def jupyter_command() -> list[str] | None:
    """``jupyter-lab`` (else ``jupyter-notebook``) beside this Python, else on ``$PATH``; None if neither."""
    here = Path(sys.executable).parent
    for name in ("jupyter-lab", "jupyter-notebook"):
        found = shutil.which(name, path=str(here)) or shutil.which(name)
        if found:
            return [found]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zoo.notebook [run|open] [--output PATH]``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m zoo.notebook", description=__doc__.splitlines()[0])
    parser.add_argument("action", nargs="?", choices=("run", "open"), default="run",
                        help="run (default): execute the notebook and save the result; open: start Jupyter on it")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"where run writes the result (default {OUTPUT})")
    args = parser.parse_args(argv)
    if args.action == "open":
        command = jupyter_command()
        if command is None:
            print("JupyterLab is not installed: pip install jupyterlab, then python -m zoo.notebook open"
                  " (python -m zoo.notebook run executes the notebook without it)", file=sys.stderr)
            return 1
        return subprocess.call([*command, NOTEBOOK.name], cwd=NOTEBOOK.parent)
    from nbclient.exceptions import CellExecutionError

    print(f"running {NOTEBOOK} ...", flush=True)
    try:
        output = execute(output=args.output.absolute())
    except CellExecutionError as error:
        print(f"error: the notebook failed ({error.ename}: {first_line(RuntimeError(error.evalue))});"
              f" the executed copy, traceback included: {args.output.absolute()}", file=sys.stderr)
        return 1
    print(f"executed notebook written to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
