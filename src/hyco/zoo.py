"""Named models: name + quality -> architecture, rate-distortion lambda, shipped weights.

Models without shipped weights are built from a fixed seed, so every process builds the
same untrained model (its files still decode anywhere, digest checks still hold), and
``hyco models`` says which ones are trained.
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from hyco.errors import HycoError, ModelMismatch
from hyco.files import write_atomic
from hyco.image import (
    QARV,
    Checkerboard,
    FactorizedPrior,
    HiFiC,
    HiFiCMixture,
    HiFiCPaper,
    ImageCodec,
    JointAutoregressive,
    MeanScaleHyperprior,
    QARVPaper,
    QResVAE,
    QResVAEPaper,
    ScaleHyperprior,
    VariableRateChannelCheckerboard,
    VariableRateCheckerboard,
    VariableRateMeanScale,
)
from hyco.image.hific import REGIMES
from hyco.image.qres import LAMBDA_LADDER, lmbda_for_quality, quality_for_lmbda

WEIGHTS_DIR = Path(__file__).parent / "weights"

# CompressAI's MSE ladder; spans about 0.1-2 bpp on Kodak once trained.
LAMBDAS = {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.0130, 5: 0.0250, 6: 0.0483, 7: 0.0932, 8: 0.18}
_SMALL, _LARGE = (128, 192), (192, 320)
_CONTEXT_SMALL = (192, 192)  # the seminar report's context-model sizes: N=192, M=192 / 320
_HIFIC_SMALL, _HIFIC_PAPER = (128, 128), (320, 220)  # (hyper width, latent channels)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    cls: type[ImageCodec]
    sizes: dict[int | str, tuple[int, int]]  # quality -> (N, M)
    paper: str
    variable_rate: bool = False  # one set of weights for every (also fractional) quality
    stages: tuple[str, ...] = ()  # training stages (`hyco train --stage`), the first by default
    lambdas: dict[int, float] | None = None  # training lambda per quality (default: LAMBDAS)
    lmbda_range: tuple[float, float] | None = None  # lambda-conditioned: `--lmbda` in this range

    @property
    def named(self) -> bool:
        """Qualities are names (HiFiC's regimes ``low``/``med``/``high``), not a ladder."""
        return any(isinstance(q, str) for q in self.sizes)

    @property
    def qualities(self) -> list:
        return list(self.sizes) if self.named else sorted(self.sizes)

    @property
    def quality_range(self) -> tuple[float, float]:
        """(lowest, highest) quality of a ladder model, extrapolated qualities included."""
        # gain-unit models extrapolate below their first trained level (variable_rate._gains)
        lo = getattr(self.cls, "min_quality", None)
        return float(self.qualities[0] if lo is None else lo), float(self.qualities[-1])

    @property
    def default_quality(self) -> int | str:
        return self.qualities[0] if self.named else DEFAULT_QUALITY


def _ladder(high_from: int, small: tuple[int, int] = _SMALL) -> dict[int, tuple[int, int]]:
    return {q: (_LARGE if q >= high_from else small) for q in LAMBDAS}


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("factorized", FactorizedPrior, _ladder(6), "Ballé et al. 2017/2018"),
        ModelSpec("hyperprior", ScaleHyperprior, _ladder(6), "Ballé et al. 2018"),
        ModelSpec("mean-scale", MeanScaleHyperprior, _ladder(6), "Minnen et al. 2018"),
        ModelSpec("joint-ar", JointAutoregressive, _ladder(6, _CONTEXT_SMALL),
                  "Minnen et al. 2018, joint autoregressive"),
        ModelSpec("checkerboard", Checkerboard, _ladder(6, _CONTEXT_SMALL),
                  "He et al. 2021, checkerboard context"),
        ModelSpec("mean-scale-vr", VariableRateMeanScale, {q: _SMALL for q in LAMBDAS},
                  "Minnen et al. 2018 + gain units (Cui et al. 2021)", variable_rate=True),
        ModelSpec("checkerboard-vr", VariableRateCheckerboard, {q: _SMALL for q in LAMBDAS},
                  "mean-scale-vr + checkerboard context (He et al. 2021)", variable_rate=True),
        ModelSpec("channel-checkerboard-vr", VariableRateChannelCheckerboard,
                  {q: _SMALL for q in LAMBDAS},
                  "mean-scale-vr + space-channel checkerboard context (He et al. 2022, ELIC)",
                  variable_rate=True),
        ModelSpec("hific", HiFiC, {q: _HIFIC_SMALL for q in REGIMES},
                  "Mentzer et al. 2020, small configuration", stages=("rd", "gan")),
        ModelSpec("hific-paper", HiFiCPaper, {q: _HIFIC_PAPER for q in REGIMES},
                  "Mentzer et al. 2020", stages=("rd", "gan")),
        ModelSpec("hific-mixture", HiFiCMixture, {q: _HIFIC_SMALL for q in REGIMES},
                  "Mentzer et al. 2020, small, logistic mixture likelihood",
                  stages=("rd", "gan")),
        ModelSpec("qres-vae", QResVAE, {q: (64, 128) for q in LAMBDAS},
                  "Duan et al. 2023 (QRes-VAE), CPU size", lambdas=LAMBDA_LADDER),
        ModelSpec("qres-vae-paper", QResVAEPaper, {q: (192, 384) for q in LAMBDAS},
                  "Duan et al. 2023 (QRes-VAE, qres34m)", lambdas=LAMBDA_LADDER),
        ModelSpec("qarv", QARV, {q: (48, 128) for q in LAMBDAS},
                  "Duan et al. 2023 (QARV), CPU size", variable_rate=True,
                  lambdas=LAMBDA_LADDER, lmbda_range=(16.0, 2048.0)),
        ModelSpec("qarv-paper", QARVPaper, {q: (128, 512) for q in LAMBDAS},
                  "Duan et al. 2023 (QARV, qarv_base)", variable_rate=True,
                  lambdas=LAMBDA_LADDER, lmbda_range=(16.0, 2048.0)),
    ]
}
DEFAULT_MODEL = "channel-checkerboard-vr"  # shipped trained (src/hyco/weights), every quality
DEFAULT_QUALITY = 3


def spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise HycoError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    return MODELS[name]


def parse_quality(name: str, quality: int | float | str) -> int | float | str:
    """An integer quality of the model's ladder; any number in its range if variable-rate;
    one of the names if the model's qualities are named."""
    s = spec(name)
    if s.named:
        if str(quality) in s.sizes:
            return str(quality)
        raise HycoError(f"{name} has qualities {', '.join(s.qualities)}, not {quality}")
    lo, hi = (int(v) if v.is_integer() else v for v in s.quality_range)
    if isinstance(quality, str) and quality.startswith("lmbda="):  # headers of QARV files
        return lmbda_quality(name, quality[len("lmbda="):])
    try:
        q = float(quality)
    except (TypeError, ValueError):
        q = math.nan
    if s.variable_rate and lo <= q <= hi:
        return int(q) if q.is_integer() else q
    if q.is_integer() and int(q) in s.sizes:
        return int(q)
    kind = "from" if s.variable_rate else "integers"
    raise HycoError(f"{name} has qualities {kind} {lo}..{hi}, not {quality}")


def lmbda_quality(name: str, lmbda: float | str) -> float:
    """The quality of a lambda-conditioned model that codes at ``lmbda`` (its own convention,
    e.g. QARV's 16 .. 2048 for qualities 1 .. 8)."""
    s = spec(name)
    if s.lmbda_range is None:
        conditioned = ", ".join(n for n, m in MODELS.items() if m.lmbda_range)
        raise HycoError(f"{name} takes a quality, not a lambda (--lmbda is for {conditioned})")
    lo, hi = s.lmbda_range
    try:
        value = float(lmbda)
    except (TypeError, ValueError):
        value = math.nan
    if not lo <= value <= hi:
        raise HycoError(f"{name} takes lmbda from {lo:g} to {hi:g}, not {lmbda}")
    return quality_for_lmbda(value)


def lmbda_at(name: str, quality: int | float) -> float:
    """The MSE lambda a model trained with at a (fractional) quality: between the ladder's
    levels log-linear, as a variable-rate model's gains between them blend two levels'.
    What an encoder deciding by rate-distortion (the video skip map, the latent search)
    must trade at, so its choices sit on the model's own curve. Below the first level (the
    extrapolated qualities of gain-unit models) the first two levels' ratio goes on."""
    ladder = spec(name).lambdas or LAMBDAS
    lo = max(min(ladder), min(int(quality), max(ladder) - 1))
    a = float(quality) - lo
    return ladder[lo] ** (1 - a) * ladder[lo + 1] ** a


def rd_cost(n_bytes: int, pixels: int, mse: float, lmbda: float) -> float:
    """``bpp + lambda 255^2 MSE`` (MSE of [0, 1] values): the training loss of a real file,
    by which an encoder picks between candidate files (latent search, hyper-latent reuse)."""
    return 8 * n_bytes / pixels + lmbda * 255.0**2 * mse


def quality_label(name: str, quality: int | float | str) -> str:
    """What a file's header says about its rate: the quality, or ``lmbda=V`` for models
    coding at a lambda (parse_quality reads either back)."""
    q = parse_quality(name, quality)
    if spec(name).lmbda_range is not None:
        return f"lmbda={lmbda_for_quality(float(q)):.6g}"
    return str(q)


def shipped_weights(name: str, quality: int | float) -> Path | None:
    s = spec(name)
    stem = name if s.variable_rate else f"{name}-{quality}" if s.named else f"{name}-q{quality}"
    path = WEIGHTS_DIR / f"{stem}.safetensors"
    return path if path.is_file() else None


def build(name: str, quality: int, size: tuple[int, int] | None = None) -> ImageCodec:
    """The architecture for (name, quality) with seeded random weights.

    ``size`` (N, M) overrides the spec's: a weights file records the size it was trained
    at (:func:`weights_size`), so a model grown after shipping (``hyco.image.widen``) keeps
    its name, and what decodes its files builds it at its own size."""
    s = spec(name)
    q = parse_quality(name, quality)
    n, m = size or s.sizes[q if s.named else int(q)]
    seed_name = name if s.variable_rate else f"{name}-q{q}"  # one model serves every rate
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(zlib.crc32(seed_name.encode()))
        model = s.cls(n, m)
    if s.variable_rate:
        model.quality = q
    return model


def weights_size(path: str | Path | None, name: str | None = None) -> tuple[int, int] | None:
    """(N, M) a weights file was trained at, from its metadata (a prior-only file: from its
    base's); None for files that predate the record (the spec's size then). With ``name``:
    only for a variable-rate model, whose one set of weights may be grown
    (``hyco.image.widen``); a ladder model's size is its quality's, whatever a file says."""
    if path is None or (name is not None and not spec(name).variable_rate):
        return None
    meta = weights_metadata(path)
    if "n" in meta and "m" in meta:
        return int(meta["n"]), int(meta["m"])
    own = MODELS.get(meta.get("model", ""))
    base = getattr(own.cls, "base_model", None) if own else None
    if base and meta.get("base_digest"):
        return weights_size(find_base(base, meta["base_digest"], Path(path).parent,
                                      f"{path}: {meta['model']} weights"))
    return None


def load_weights(model: ImageCodec, path: str | Path, base_ok: bool = False) -> None:
    """Load a safetensors file into ``model`` (never pickle).

    A file that holds only what a model adds to its ``base_model`` (checkerboard-vr's
    prior; :func:`save_weights` with ``base``) names its base by digest, and the base comes
    from :func:`find_base`. ``base_ok`` (training's ``--init``) also takes the weights of
    the ``base_model`` itself: the parts it lacks keep their initial values."""
    state = _read_state(path)
    model_state = model.state_dict()
    base = getattr(model, "base_model", None)
    meta = weights_metadata(path)
    if base and meta.get("base_digest") and meta.get("model") == model.name:
        state = {**_read_state(find_base(base, meta["base_digest"], Path(path).parent,
                                         f"{path}: {model.name} weights")), **state}
    if base_ok and base and meta.get("model") == base:
        state = {**{k: v for k, v in model_state.items() if k not in state}, **state}
    if set(state) != set(model_state) or any(
            state[k].shape != model_state[k].shape for k in state):
        raise ModelMismatch(f"{path}: weights do not fit {model.name} "
                            f"(N={model.n}, M={model.m})")
    model.load_state_dict({k: v.to(model_state[k].dtype) for k, v in state.items()})


def load_prior(model: ImageCodec, path: str | Path) -> None:
    """Load only the prior of a prior file (checkerboard-vr's, :func:`save_weights` with
    ``base``) into ``model``, whatever base it was trained on; the transforms stay as they are.

    Why: training's ``--warm-prior``. After a new round of the base model, a prior must be
    trained again on the new transforms, and the old prior, trained on transforms only a
    fine-tuning away, is a far better start than zero. Decoding never uses this: there a prior
    and a base of another digest are refused (:func:`load_weights`)."""
    meta = weights_metadata(path)
    if meta.get("model") != model.name or not meta.get("base_digest"):
        raise ModelMismatch(f"{path}: not a {model.name} prior file (hyco export --base), "
                            f"but {meta.get('model') or 'unnamed'} weights")
    state, own = _read_state(path), model.state_dict()
    if any(k not in own or own[k].shape != v.shape for k, v in state.items()):
        raise ModelMismatch(f"{path}: prior weights do not fit {model.name}")
    model.load_state_dict({**own, **{k: v.to(own[k].dtype) for k, v in state.items()}})


def _read_state(path: str | Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise HycoError(f"{path}: not a readable safetensors weights file ({exc})") from None


def find_base(base: str, digest: str, beside: Path, what: str) -> Path:
    """The ``base`` weights file whose digest is ``digest``: the shipped one, else one in
    the folder ``beside`` (an evaluation's exported pair). Why by digest: a prior learned
    on one set of transforms is worthless on another, so a retrained base must fail loudly
    rather than decode with the wrong tables."""
    shipped = shipped_weights(base, spec(base).qualities[0])
    for path in [*([shipped] if shipped else []), *sorted(beside.glob("*.safetensors"))]:
        try:
            meta = weights_metadata(path)
        except HycoError:
            continue
        if meta.get("model") == base and meta.get("digest") == digest:
            return path
    raise ModelMismatch(f"{what} are a prior on {base} weights {digest}, which are neither "
                        f"shipped nor beside them (retrain the prior on the {base} in use)")


def save_weights(model: ImageCodec, path: str | Path, quality: int | str,
                 extra: dict[str, str] | None = None, half: bool = False,
                 base: str | Path | None = None) -> None:
    """Write ``model``'s weights as safetensors with their model/quality/digest (atomic).

    ``half`` stores float16 (half the bytes; computation stays float32). The digest in the
    metadata is then that of the model as it will be loaded, float16 values in float32.
    ``base`` (a weights file of the model's ``base_model``) stores only what the model adds
    to it, and the base's digest: checkerboard-vr's file then holds its prior, not a second
    copy of the default model's transforms (what the repository grows by per round).
    """
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        model = build(model.name, quality if not spec(model.name).variable_rate
                      else spec(model.name).qualities[0], size=(model.n, model.m))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in state.items()})
    meta = {"model": model.name, "quality": str(quality), "digest": model.digest(),
            "n": str(model.n), "m": str(model.m), **(extra or {})}
    if base is not None:
        state, meta["base_digest"] = _without_base(model, state, base)
    write_atomic(path, save(state, metadata=meta), force=True)


def _without_base(model: ImageCodec, state: dict[str, torch.Tensor], base: str | Path
                  ) -> tuple[dict[str, torch.Tensor], str]:
    """``state`` less the tensors of the ``base`` file, which must hold exactly those values
    (else the stored prior would be loaded beside transforms it was not trained with)."""
    meta, base_state = weights_metadata(base), _read_state(base)
    if getattr(model, "base_model", None) != meta.get("model") or "digest" not in meta:
        raise HycoError(f"{base}: not weights of {model.name}'s base model "
                        f"({getattr(model, 'base_model', None) or 'it has none'})")
    for k, v in base_state.items():
        if k not in state or not torch.equal(state[k].to(v.dtype), v):
            raise ModelMismatch(f"{base}: {model.name}'s {k} differs from these base weights "
                                "(export against the base the model was trained on)")
    return {k: v for k, v in state.items() if k not in base_state}, meta["digest"]


def weights_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a weights file (model, quality, digest, ...), without loading tensors."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise HycoError(f"{path}: not a readable safetensors weights file ({exc})") from None


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, quality: int | float, weights: str | None,
                 _stamp: tuple) -> ImageCodec:
    path = weights or shipped_weights(name, quality)
    model = build(name, quality, size=weights_size(path, name))
    if path is not None:
        load_weights(model, path)
    return model.eval()


def _stamp(name: str, path: Path) -> tuple:
    """What identifies the model ``path`` loads to, for the cache: the file's size and
    modification time, and those of its base file when it is a prior-only file (a base
    rewritten in the same process is a new model too, not a stale cache hit)."""
    stat = path.stat()
    stamp: tuple = (stat.st_mtime_ns, stat.st_size)
    base_digest = weights_metadata(path).get("base_digest")
    base = getattr(spec(name).cls, "base_model", None) if base_digest else None
    if base is not None:
        bstat = find_base(base, base_digest, path.parent, f"{path}: {name} weights").stat()
        stamp += (bstat.st_mtime_ns, bstat.st_size)
    return stamp


def load(name: str = DEFAULT_MODEL, quality: int | str = DEFAULT_QUALITY,
         weights: str | Path | None = None) -> ImageCodec:
    """A ready (eval-mode) model: shipped weights if any, ``weights`` if given.

    Models are cached per process; treat the result as read-only.
    """
    q = parse_quality(name, quality)
    variable = spec(name).variable_rate
    key_q = spec(name).qualities[0] if variable else q  # one cached model for every rate
    if weights is None:
        model = _load_cached(name, key_q, None, ())
    else:
        path = Path(weights).resolve()
        if not path.is_file():
            raise HycoError(f"{weights}: no such weights file")
        model = _load_cached(name, key_q, str(path), _stamp(name, path))
    if variable:
        model.quality = q
    return model


def is_trained(name: str, quality: int) -> bool:
    return shipped_weights(name, quality) is not None


def weights_note(name: str, quality: int | str) -> str:
    """What `hyco models` says of a model's weights: shipped and how long they trained, or
    that the model runs on seeded random weights."""
    return path_note(shipped_weights(name, quality))


def path_note(path: Path | None) -> str:
    """:func:`weights_note` for a shipped weights file (None: none shipped); video codecs too."""
    if path is None:
        return "untrained (random init)"
    meta = weights_metadata(path)
    steps, base = meta.get("steps"), meta.get("base_steps")
    if steps and base:  # a prior trained on a base model's frozen transforms
        return f"trained ({int(steps):,} steps, on a base of {int(base):,})"
    return f"trained ({int(steps):,} steps)" if steps else "trained"
