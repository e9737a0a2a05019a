"""The guided filter (He, Sun and Tang, 2010) and the lift of a low-resolution result, in torch.

The filter models the output as a local affine function of the guide,
q = a * I + b in every window. `affine_coefficients` exposes (a, b) so the same
model can lift a result computed at low resolution back to full resolution, and
`haze_strength_map` reads (a, b) physically to apply only part of the dehazing.

Everything works on tensors of shape (..., H, W) on their own device (numpy
arrays are accepted and answered in kind), so a GPU, when present, does the
image math as well as the networks.
"""

import numpy as np
import torch
import torch.nn.functional as F

STRUCTURE_LUMA_RADIUS, STRUCTURE_LUMA_EPS = 2, (4 / 255) ** 2
STRUCTURE_CHROMA_RADIUS, STRUCTURE_CHROMA_EPS, CHROMA_SCALE = 6, (8 / 255) ** 2, 4
STRIP_PIXELS = 1 << 19  # apply_affine_map works through the full-size image in strips of about this many pixels
MIN_SLOPE = 1e-3  # a = 1 / t: slopes below this are fitting noise, not a physical transmission


def default_device() -> torch.device:
    """The GPU when there is one, except inside DataLoader workers, which are forked and cannot use CUDA."""
    in_worker = torch.utils.data.get_worker_info() is not None
    return torch.device("cuda" if torch.cuda.is_available() and not in_worker else "cpu")


def to_tensor(image: np.ndarray, device=None) -> torch.Tensor:
    """An (H, W, C) float array as a (C, H, W) float32 tensor; on the CPU a view of a contiguous float32 array."""
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))  # torch refuses negative strides
    return tensor.to(device or default_device()).permute(2, 0, 1)


def to_array(image: torch.Tensor) -> np.ndarray:
    """A (C, H, W) tensor as a contiguous (H, W, C) float32 array."""
    return np.ascontiguousarray(image.permute(1, 2, 0).cpu().numpy(), dtype=np.float32)


def window_reduce(values: torch.Tensor, size: int, dim: int, combine) -> torch.Tensor:
    """`combine` (add, minimum) over every run of `size` consecutive entries along `dim`.

    Built by doubling (pairs, pairs of pairs, ...) and joining the spans that make up
    `size` in binary: about 2 log2(size) array operations whatever the size, and no
    running sums over the whole image, whose float32 rounding would swamp small windows.
    The result is size - 1 shorter than `values` along `dim`.
    """
    length = values.shape[dim] - size + 1
    result, offset, span, width = None, 0, values, 1
    while True:
        if size & width:
            piece = span.narrow(dim, offset, length)
            result = piece if result is None else combine(result, piece)
            offset += width
        if 2 * width > size:
            return result
        shorter = span.shape[dim] - width
        span = combine(span.narrow(dim, 0, shorter), span.narrow(dim, width, shorter))
        width *= 2


def window_counts(length: int, radius: int, device) -> torch.Tensor:
    """How many of the 2r+1 window positions around each index fall inside [0, length)."""
    index = torch.arange(length, device=device)
    return ((index + radius).clamp(max=length - 1) - (index - radius).clamp(min=0) + 1).float()


def box_filter(image, radius: int):
    """Mean over (2r+1)x(2r+1) windows of the last two axes, windows clipped at the border."""
    values = torch.as_tensor(image)
    height, width = values.shape[-2:]
    size = 2 * radius + 1
    padded = F.pad(values, (radius, radius, radius, radius))
    sums = window_reduce(window_reduce(padded, size, -1, torch.add), size, -2, torch.add)
    counts = window_counts(height, radius, values.device)[:, None] * window_counts(width, radius, values.device)
    return like(image, sums / counts.to(sums.dtype))


def guided_filter(guide, source, radius: int = 40, eps: float = 1e-3):
    """Edge-preserving smoothing of `source` steered by `guide`, both (..., H, W)."""
    guide_tensor = torch.as_tensor(guide)
    a, b = affine_coefficients(guide_tensor, torch.as_tensor(source), radius, eps)
    return like(source, a * guide_tensor + b)


def affine_coefficients(guide, source, radius: int, eps: float):
    """Window-averaged (a, b) of the local model source ~ a * guide + b, elementwise over (..., H, W)."""
    guide, source = torch.as_tensor(guide), torch.as_tensor(source)
    # Stacked, the four means take one box filter's array operations (a quarter as many
    # thread wake-ups, which dominate small images on a busy CPU).
    mean_guide, mean_source, mean_product, mean_square = box_filter(
        torch.stack([guide, source, guide * source, guide * guide]), radius)
    a = (mean_product - mean_guide * mean_source) / (mean_square - mean_guide * mean_guide + eps)
    b = mean_source - a * mean_guide
    mean_a, mean_b = box_filter(torch.stack([a, b]), radius)
    return mean_a, mean_b


def haze_strength_map(a: torch.Tensor, b: torch.Tensor, strength: float):
    """The affine map J = a_s I + b_s that removes only `strength` of the haze modelled by J = a I + b.

    Dehazing inverts I = J t + A (1 - t), so a = 1 / t and b = A (1 - a). Scaling the
    haze density beta by s turns t = exp(-beta d) into t**s: a_s = a**s and
    b_s = A (1 - a**s) = b (1 - a**s) / (1 - a), with the ratio computed as
    expm1(s log a) / expm1(log a), whose limit where a is 1 is s.
    """
    log_a = torch.log(a.clamp(min=MIN_SLOPE))
    near_one = log_a.abs() < 1e-6
    safe_log_a = torch.where(near_one, torch.ones_like(log_a), log_a)
    ratio = torch.where(near_one, torch.full_like(log_a, strength), torch.expm1(strength * safe_log_a) / torch.expm1(safe_log_a))
    return torch.exp(strength * log_a), b * ratio


def smooth_luma_rows(image: torch.Tensor, top: int, bottom: int) -> torch.Tensor:
    """Rows top:bottom of the structure layer's luma: a local Wiener (Lee) filter, from those rows and a 2 px margin."""
    radius = STRUCTURE_LUMA_RADIUS
    start, stop = max(top - radius, 0), min(bottom + radius, image.shape[-2])
    luma = image[:, start:stop].mean(0, keepdim=True)
    mean, mean_of_square = box_filter(torch.cat([luma, luma * luma]), radius).chunk(2)
    variance = (mean_of_square - mean * mean).clamp(min=0)
    smooth = mean + variance / (variance + STRUCTURE_LUMA_EPS) * (luma - mean)
    return smooth[:, top - start : bottom - start]


def smooth_chroma(image: torch.Tensor) -> torch.Tensor:
    """The structure layer's colour (image minus its luma) at a quarter of the size, guided by the luma there."""
    rows = strip_height(image.shape[-1], CHROMA_SCALE)
    quarter = torch.cat([F.avg_pool2d(image[None, :, top : top + rows], CHROMA_SCALE, ceil_mode=True)[0]
                         for top in range(0, image.shape[-2], rows)], dim=1)

    def chroma_filter(strip):
        strip_luma = strip.mean(0, keepdim=True)
        return guided_filter(strip_luma.expand_as(strip), strip - strip_luma, STRUCTURE_CHROMA_RADIUS,
                             STRUCTURE_CHROMA_EPS)

    return by_strips(chroma_filter, quarter, margin=2 * STRUCTURE_CHROMA_RADIUS)  # two box filters deep


def strip_height(width: int, multiple: int = 1) -> int:
    """Rows per strip of about STRIP_PIXELS pixels, a multiple of `multiple`."""
    return max(8, STRIP_PIXELS // width) // multiple * multiple


def by_strips(function, image: torch.Tensor, margin: int) -> torch.Tensor:
    """`function` of a (C, H, W) image, computed strip by strip of rows.

    Exact for functions whose output row depends only on input rows at most `margin`
    away, clipped at the image's border (box and guided filters of radius margin / 2).
    """
    height = image.shape[-2]
    rows = strip_height(image.shape[-1])
    if rows >= height:
        return function(image)
    pieces = []
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        start, stop = max(top - margin, 0), min(bottom + margin, height)
        pieces.append(function(image[:, start:stop])[:, top - start : bottom - start])
    return torch.cat(pieces, dim=1)


def resize_rows(image: torch.Tensor, height: int, width: int, top: int, bottom: int) -> torch.Tensor:
    """Rows top:bottom of the bilinear resize of a (C, h, w) image to (height, width), as F.interpolate computes it.

    Rows are interpolated here and columns by F.interpolate, whose bilinear filter is
    separable, so a strip costs what its own pixels cost.
    """
    if image.shape[-2:] == (height, width):
        return image[:, top:bottom]
    if bottom - top == height:  # the whole image: F.interpolate itself is faster
        return F.interpolate(image[None], size=(height, width), mode="bilinear", align_corners=False)[0]
    if image.shape[-2] != height:
        scale = image.shape[-2] / height  # align_corners=False: source = (row + 0.5) * scale - 0.5, at least 0
        source = ((torch.arange(top, bottom, device=image.device) + 0.5) * scale - 0.5).clamp(min=0)
        upper_row = source.long()
        weight = (source - upper_row)[:, None]
        lower_row = (upper_row + 1).clamp(max=image.shape[-2] - 1)
        image = torch.lerp(image[:, upper_row], image[:, lower_row], weight)
    else:
        image = image[:, top:bottom]
    if image.shape[-1] == width:
        return image
    return F.interpolate(image[None], size=(bottom - top, width), mode="bilinear", align_corners=False)[0]


def lift_to_full_resolution(full_input, small_input, small_output, radius: int = 4, eps: float = 1e-4,
                            strength: float = 1.0):
    """Apply to `full_input` the per-channel local affine map that takes `small_input` to `small_output`.

    Inputs are (C, H, W). Dehazing is locally affine in the hazy image
    (J = I / t - A (1 - t) / t), so fitting that map at the working size and
    upsampling its coefficients keeps full-resolution detail at the cost of a
    low-resolution pass. The coefficients are box-filtered twice, hence smooth,
    so bilinear upsampling serves as well as bicubic at a third of the cost.
    """
    a, b = affine_coefficients(torch.as_tensor(small_input), torch.as_tensor(small_output), radius, eps)
    return apply_affine_map(full_input, a, b, strength)


def apply_affine_map(full_input, a: torch.Tensor, b: torch.Tensor, strength: float = 1.0):
    """J = a I + b on the (C, H, W) `full_input`, with (a, b) at any resolution, applied to its structure layer.

    The structure layer is the part of the image that a dehazing gain may amplify: edges
    and shading, not faint fluctuations. Dehazing multiplies the input by 1 / t, up to 10
    or more in dense haze, and with it sensor noise and JPEG's errors: 8x8 luma blocks
    and, worse, 16x16 blocks of wrong colour from chroma subsampling, which come out as
    saturated squares in hazy sky. Its luma is pulled to the local mean where it varies
    by less than about 4/255 in a 5 px window (`smooth_luma_rows`: one pass, cheaper than
    a guided filter at full resolution). Its colour, which JPEG keeps at half resolution
    anyway, is smoothed on a quarter-size copy wherever the luma does not change over
    about 50 px (`smooth_chroma`), so block errors and the blotches of amplified colour
    noise fall out. The rest of the image, faint detail, passes with a gain of at most 1.

    `strength` below 1 removes only that part of the haze (see `haze_strength_map`).
    Full-size rows are processed in strips of about STRIP_PIXELS: whole-image
    temporaries of a 12 MP photo are 48 MB each, fresh from the kernel every time, and
    the cost per megapixel grew with the photo's size (0.04 s at 2 MP, 0.11 s at 12 MP).
    """
    full_input = torch.as_tensor(full_input)
    if strength != 1:
        a, b = haze_strength_map(a, b, strength)
    height, width = full_input.shape[-2:]
    coefficients, chroma = torch.cat([a, b]), smooth_chroma(full_input)
    lifted = torch.empty_like(full_input)  # in the input's memory layout: (H, W, C) arrays convert back without a copy
    rows = strip_height(width)
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        strip_a, strip_b = resize_rows(coefficients, height, width, top, bottom).chunk(2)
        structure = smooth_luma_rows(full_input, top, bottom) + resize_rows(chroma, height, width, top, bottom)
        detail = full_input[:, top:bottom] - structure  # faint detail is never amplified, only attenuated
        strip = structure.mul_(strip_a).add_(strip_b).addcmul_(strip_a.clamp(max=1.0), detail)
        lifted[:, top:bottom] = strip.clamp_(0.0, 1.0)
    return like(full_input, lifted)


def resize_tensor(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize a (C, H, W) image with antialiased bicubic interpolation (as PIL's), clipped to [0, 1]."""
    batch = image[None].contiguous(memory_format=torch.channels_last)
    return F.interpolate(batch, size=(height, width), mode="bicubic", antialias=True, align_corners=False)[0].clamp(0, 1)


def like(reference, result: torch.Tensor):
    """`result` as a numpy array if `reference` was one, so numpy callers stay in numpy."""
    return result.cpu().numpy() if isinstance(reference, np.ndarray) else result
