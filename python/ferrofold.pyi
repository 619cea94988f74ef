"""ferrofold: AlphaFold2's computation in Rust. Arrays are numpy arrays under AlphaFold2's names; long
computations release the GIL; errors carry the library's messages (file, line, dataset, tensor)."""
from os import PathLike
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np

__version__: str
_Path = Union[str, PathLike]

class Query:
    """One protein sequence with an id, validated as AlphaFold2 reads sequences."""
    def __init__(self, id: str, sequence: str) -> None: ...
    @staticmethod
    def from_fasta(path: _Path) -> "Query": ...
    @property
    def id(self) -> str: ...
    @property
    def sequence(self) -> str: ...
    def __len__(self) -> int: ...

def search(query: Query, db: _Path, output: _Path, evalue: float = 1e-3, max_hits: int = 10000) -> str:
    """Built-in search of a FASTA(.gz) database; writes the hits as A3M to `output`, returns it."""
    ...

def relax(model: _Path, output_dir: _Path, name: str | None = None, stiffness: float = 10.0,
          tolerance: float = 2.39, max_outer_iterations: int = 3, overwrite: bool = False) -> dict:
    """Amber relaxation as AlphaFold2 does it (`ferrofold relax`): writes relaxed_<name>.pdb/.cif and
    relax_metrics.json into output_dir; returns the model's metrics (kcal/mol, Å, violations) with "pdb"."""
    ...

class Features:
    """AlphaFold2's raw features, dict-like (int32/float32 arrays; string features as lists of str)."""
    @staticmethod
    def build(query: Query, msas: list[_Path] = ...) -> "Features": ...
    @staticmethod
    def load(path: _Path) -> "Features":
        """features.h5, or AlphaFold2's features.pkl (read as data, never executed)."""
        ...
    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Features": ...
    def save(self, path: _Path) -> None: ...
    @property
    def num_res(self) -> int: ...
    @property
    def num_alignments(self) -> int: ...
    def keys(self) -> list[str]: ...
    def __getitem__(self, key: str) -> Union[np.ndarray, list[str]]: ...
    def __contains__(self, key: str) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...

class Prediction:
    @property
    def atom_positions(self) -> np.ndarray: ...  # [N, 37, 3] float32, Å
    @property
    def atom_mask(self) -> np.ndarray: ...  # [N, 37]
    @property
    def plddt(self) -> np.ndarray: ...  # [N], 0-100
    @property
    def pae(self) -> Optional[np.ndarray]: ...  # [N, N] Å, models with a PAE head
    @property
    def ptm(self) -> Optional[float]: ...
    @property
    def distogram_logits(self) -> np.ndarray: ...  # [N, N, 64]
    @property
    def mean_plddt(self) -> float: ...
    def to_pdb(self) -> str: ...
    def to_mmcif(self) -> str: ...
    def save(self, dir: _Path) -> None:
        """unrelaxed.pdb, unrelaxed.cif and result.npz into `dir`."""
        ...

class Model:
    @staticmethod
    def load(path: _Path) -> "Model": ...
    @staticmethod
    def demo() -> "Model":
        """ferrofold's demo model: random weights, its structures mean nothing."""
        ...
    @property
    def name(self) -> str: ...
    @property
    def config(self) -> dict[str, Any]: ...
    def predict(
        self,
        features: Features,
        seed: int = 0,
        num_recycle: Optional[int] = None,
        threads: int = 0,
        progress: Optional[Callable[[int, int], None]] = None,
        device: str = "auto",
    ) -> Prediction:
        """As `ferrofold predict` (same seed: the same arrays as its result file). `progress(done, total)`
        after every trunk block; Ctrl-C stops at the next block (KeyboardInterrupt). `device`: "auto"
        (a hardware GPU when one is found, else the CPU), "gpu" (the GPU engine or an error) or "cpu"."""
        ...
    def predict_processed(self, path: _Path, threads: int = 0) -> Prediction: ...
