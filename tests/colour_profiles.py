"""A Display P3 ICC profile built from the published primaries, for tests that need a non-sRGB photo offline.

Display P3: DCI-P3 primaries, D65 white, the sRGB tone curve (as Apple's profile). The colorants are
adapted to the profile connection space's D50 white with the Bradford transform, as ICC requires.
"""

import struct

import numpy as np

P3_PRIMARIES = [(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)]
SRGB_PRIMARIES = [(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)]
D65 = (0.3127, 0.3290)
D50_XYZ = np.array([0.9642, 1.0, 0.8249])
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)  # ICC parametric curve type 3


def xy_to_xyz(x, y):
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz(primaries, white=D65):
    """Linear RGB to XYZ matrix of a colour space given by its primaries' and white's chromaticities."""
    columns = np.stack([xy_to_xyz(*p) for p in primaries], axis=1)
    return columns * np.linalg.solve(columns, xy_to_xyz(*white))


def p3_to_srgb_linear():
    return np.linalg.inv(rgb_to_xyz(SRGB_PRIMARIES)) @ rgb_to_xyz(P3_PRIMARIES)


def srgb_decode(values):
    values = np.asarray(values, np.float64)
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def srgb_encode(values):
    values = np.clip(values, 0, 1)
    return np.where(values <= 0.0031308, values * 12.92, 1.055 * values ** (1 / 2.4) - 0.055)


def display_p3_icc() -> bytes:
    """ICC v4 matrix/TRC display profile bytes for Display P3."""
    source, target = BRADFORD @ xy_to_xyz(*D65), BRADFORD @ D50_XYZ
    colorants = np.linalg.inv(BRADFORD) @ np.diag(target / source) @ BRADFORD @ rgb_to_xyz(P3_PRIMARIES)

    def s15(value):
        return struct.pack(">i", round(value * 65536))

    def xyz(values):
        return b"XYZ \0\0\0\0" + b"".join(s15(v) for v in values)

    name = "Display P3 (built from primaries)".encode("utf-16-be")
    curve = b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(s15(v) for v in SRGB_CURVE)
    tags = {b"desc": b"mluc\0\0\0\0" + struct.pack(">IIIII", 1, 12, 0x656E5553, len(name), 28) + name,
            b"wtpt": xyz(D50_XYZ), b"rXYZ": xyz(colorants[:, 0]), b"gXYZ": xyz(colorants[:, 1]),
            b"bXYZ": xyz(colorants[:, 2]), b"rTRC": curve, b"gTRC": curve, b"bTRC": curve}
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for signature, data in tags.items():
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = struct.pack(">I4sI4s4s4s12s4s4s4s4s4s8sI", offset + len(body), b"lcms", 0x04300000, b"mntr", b"RGB ",
                         b"XYZ ", bytes(12), b"acsp", b"APPL", bytes(4), bytes(4), bytes(4), bytes(8), 0)
    header += b"".join(s15(v) for v in D50_XYZ) + bytes(48)
    return header + struct.pack(">I", len(tags)) + table + body
