# Generates the OpenCV reference outputs that OpenCvGoldenTest compares the Java kernels with.
#
# Run with a Python that has cv2 and numpy (Debian 12: apt-get install python3-opencv, which
# gives OpenCV 4.6.0; the reference code pins 4.8.1, whose kernels used here are the same):
#     python3 tests/resources/opencv-golden/generate.py
# It writes raw uint8 files (row-major, interleaved RGB) and .txt matrices next to itself.
# The colour operations are albumentations 1.3.1's uint8 functions, restated with numpy/cv2.
import os

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
W, H = 24, 20
rng = np.random.RandomState(0)
image = rng.randint(0, 256, (H, W, 3)).astype(np.uint8)
mask = (rng.rand(H, W) > 0.5).astype(np.uint8)


def save(name, array):
    np.ascontiguousarray(array, dtype=np.uint8).tofile(os.path.join(HERE, name + ".bin"))


def save_matrix(name, matrix):
    with open(os.path.join(HERE, name + ".txt"), "w") as f:
        f.write(" ".join(repr(float(v)) for v in np.asarray(matrix).ravel()) + "\n")


save("input_rgb", image)
save("input_mask", mask)

# Resize: Lanczos-4 up and down for the image, nearest for the mask.
for name, (w, h) in {"up": (37, 31), "down": (13, 11)}.items():
    save("resize_%s_rgb" % name, cv2.resize(image, (w, h), interpolation=cv2.INTER_LANCZOS4))
    save("resize_%s_mask" % name, cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST))

# warpAffine with forward matrices (OpenCV inverts them), as albumentations calls it.
matrices = {
    "rot90": [[0.0, 0.8, 3.1], [-1.3, 0.0, 26.2]],
    "oblique": [[0.62, -0.36, 6.7], [0.41, 0.71, -2.3]],
}
for name, m in matrices.items():
    m = np.array(m, dtype=np.float64)
    save_matrix("affine_%s_matrix" % name, m)
    save("affine_%s_constant_rgb" % name, cv2.warpAffine(
        image, m, (W, H), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_CONSTANT, borderValue=0))
    save("affine_%s_constant_mask" % name, cv2.warpAffine(
        mask, m, (W, H), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0))
    save("affine_%s_reflect_rgb" % name, cv2.warpAffine(
        image, m, (W, H), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT_101))
    save("affine_%s_reflect_mask" % name, cv2.warpAffine(
        mask, m, (W, H), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101))

# remap with float32 maps (ElasticTransform's second stage), border reflect 101.
x, y = np.meshgrid(np.arange(W), np.arange(H))
map_x = np.float32(x + 1.7 * np.sin(y / 3.0) + 0.004)
map_y = np.float32(y + 2.3 * np.cos(x / 4.0) - 0.6)
map_x.tofile(os.path.join(HERE, "remap_map_x.f32"))
map_y.tofile(os.path.join(HERE, "remap_map_y.f32"))
save("remap_rgb", cv2.remap(image, map_x, map_y, cv2.INTER_LANCZOS4,
                            borderMode=cv2.BORDER_REFLECT_101))
save("remap_mask", cv2.remap(mask, map_x, map_y, cv2.INTER_NEAREST,
                             borderMode=cv2.BORDER_REFLECT_101))


# albumentations 1.3.1 ColorJitter operations on uint8.
def brightness(img, factor):
    lut = np.clip(np.arange(0, 256) * factor, 0, 255).astype(np.uint8)
    return cv2.LUT(img, lut)


def contrast(img, factor):
    mean = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).mean()
    lut = np.clip(np.arange(0, 256) * factor + mean * (1 - factor), 0, 255).astype(np.uint8)
    return cv2.LUT(img, lut)


def saturation(img, factor):
    gray = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return cv2.addWeighted(img, factor, gray, 1 - factor, gamma=0)


def hue(img, factor):
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    lut = np.mod(np.arange(0, 256, dtype=np.int16) + 180 * factor, 180).astype(np.uint8)
    hsv[..., 0] = cv2.LUT(hsv[..., 0], lut)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


for name, op, factor in [
    ("brightness_up", brightness, 1.37), ("brightness_down", brightness, 0.61),
    ("contrast_up", contrast, 1.17), ("contrast_down", contrast, 0.83),
    ("saturation_up", saturation, 1.09), ("saturation_down", saturation, 0.91),
    ("hue_up", hue, 0.0093), ("hue_down", hue, -0.0071),
]:
    save("color_%s" % name, op(image.copy(), factor))
save("grey", cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
