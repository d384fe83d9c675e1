package org.effiseg.eval;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Where the errors are: by polyp size, near the ground-truth boundary vs away from it, and in the
 * left-hand corner regions where Kvasir-SEG images carry black boxes and overlays. Add each image
 * once; read {@link #result()}. Not thread-safe.
 */
public final class ErrorBreakdown {

  /**
   * Breakdown geometry. Size bins split the ground-truth area fraction at {@code smallBelow} and
   * {@code largeAbove} (small {@code < smallBelow <=} medium {@code <= largeAbove <} large); the
   * boundary band holds the pixels within {@code boundaryBand} px (Euclidean) of a ground-truth
   * edge; the corners are the top-left and bottom-left {@code cornerFraction x cornerFraction}
   * regions of the image.
   */
  public record Config(
      double smallBelow, double largeAbove, int boundaryBand, double cornerFraction) {
    public static final Config DEFAULT = new Config(0.05, 0.20, 5, 0.30);

    public Config {
      if (!(smallBelow > 0 && smallBelow <= largeAbove && largeAbove < 1)) {
        throw new IllegalArgumentException(
            "need 0 < smallBelow <= largeAbove < 1, got " + smallBelow + ", " + largeAbove);
      }
      if (boundaryBand < 0) {
        throw new IllegalArgumentException("boundary band must be >= 0 px, got " + boundaryBand);
      }
      if (!(cornerFraction > 0 && cornerFraction <= 0.5)) {
        throw new IllegalArgumentException(
            "corner fraction must be in (0, 0.5], got " + cornerFraction);
      }
    }
  }

  /** Per-bin scores: mean Dice/IoU over the bin's images (MONAI convention) and summed counts. */
  public record SizeBin(
      String label,
      String range,
      int images,
      double meanDice,
      double meanIou,
      long tp,
      long fp,
      long fn) {}

  /** Errors inside one region of the images: its area, and the FP/FN pixels that fall in it. */
  public record Region(String label, long pixels, long fp, long fn) {
    /** False positives per 10,000 pixels of this region. */
    public double fpPer10k() {
      return MetricSummary.ratio(fp * 10_000, pixels);
    }

    /** False negatives per 10,000 pixels of this region. */
    public double fnPer10k() {
      return MetricSummary.ratio(fn * 10_000, pixels);
    }
  }

  /** One image's error locations. */
  public record ImageErrors(
      String id, long fpNearBoundary, long fnNearBoundary, long fpCorners, long fnCorners) {}

  /** The breakdown over all images added. */
  public record Result(
      Config config,
      List<SizeBin> sizeBins,
      Region nearBoundary,
      Region awayFromBoundary,
      Region topLeft,
      Region bottomLeft,
      Region elsewhere,
      List<ImageErrors> images) {}

  private static final int EMPTY = 0;
  private static final int SMALL = 1;
  private static final int MEDIUM = 2;
  private static final int LARGE = 3;

  private final Config config;
  private final List<List<ImageMetrics>> bins =
      List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
  private final long[] boundary = new long[6]; // near: pixels, fp, fn; away: pixels, fp, fn
  private final long[] corners = new long[9]; // top-left, bottom-left, elsewhere: pixels, fp, fn
  private final List<ImageErrors> images = new ArrayList<>();

  public ErrorBreakdown(Config config) {
    this.config = config;
  }

  public ErrorBreakdown() {
    this(Config.DEFAULT);
  }

  /**
   * Adds one image; {@code metrics} must be {@code ImageMetrics.of(id, prediction, groundTruth)}.
   */
  public ImageErrors add(BinaryMask prediction, BinaryMask groundTruth, ImageMetrics metrics) {
    if (!prediction.sameSize(groundTruth)) {
      throw new IllegalArgumentException(
          metrics.id() + ": prediction and ground truth differ in size");
    }
    bins.get(sizeBin(metrics)).add(metrics);

    int w = groundTruth.width();
    int h = groundTruth.height();
    boolean[] near = nearBoundary(groundTruth, config.boundaryBand());
    int cornerW = (int) Math.round(config.cornerFraction() * w);
    int cornerH = (int) Math.round(config.cornerFraction() * h);
    long fpNear = 0;
    long fnNear = 0;
    long fpCorner = 0;
    long fnCorner = 0;
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int i = y * w + x;
        boolean p = prediction.get(i);
        boolean g = groundTruth.get(i);
        int fp = p && !g ? 1 : 0;
        int fn = g && !p ? 1 : 0;
        int b = near[i] ? 0 : 3;
        boundary[b]++;
        boundary[b + 1] += fp;
        boundary[b + 2] += fn;
        int c = x >= cornerW ? 6 : y < cornerH ? 0 : y >= h - cornerH ? 3 : 6;
        corners[c]++;
        corners[c + 1] += fp;
        corners[c + 2] += fn;
        if (near[i]) {
          fpNear += fp;
          fnNear += fn;
        }
        if (c != 6) {
          fpCorner += fp;
          fnCorner += fn;
        }
      }
    }
    ImageErrors e = new ImageErrors(metrics.id(), fpNear, fnNear, fpCorner, fnCorner);
    images.add(e);
    return e;
  }

  public Result result() {
    List<SizeBin> sizeBins = new ArrayList<>();
    String small = percent(config.smallBelow());
    String large = percent(config.largeAbove());
    sizeBins.add(sizeBin("small", "< " + small, bins.get(SMALL)));
    sizeBins.add(sizeBin("medium", small + " - " + large, bins.get(MEDIUM)));
    sizeBins.add(sizeBin("large", "> " + large, bins.get(LARGE)));
    if (!bins.get(EMPTY).isEmpty()) {
      sizeBins.add(sizeBin("no polyp", "0 %", bins.get(EMPTY)));
    }
    int k = config.boundaryBand();
    String corner = percent(config.cornerFraction());
    return new Result(
        config,
        Collections.unmodifiableList(sizeBins),
        new Region("within " + k + " px of the boundary", boundary[0], boundary[1], boundary[2]),
        new Region("farther than " + k + " px", boundary[3], boundary[4], boundary[5]),
        new Region("top-left " + corner + " x " + corner, corners[0], corners[1], corners[2]),
        new Region("bottom-left " + corner + " x " + corner, corners[3], corners[4], corners[5]),
        new Region("elsewhere", corners[6], corners[7], corners[8]),
        List.copyOf(images));
  }

  private int sizeBin(ImageMetrics m) {
    if (m.groundTruthEmpty()) {
      return EMPTY;
    }
    double f = m.groundTruthFraction();
    return f < config.smallBelow() ? SMALL : f <= config.largeAbove() ? MEDIUM : LARGE;
  }

  private static SizeBin sizeBin(String label, String range, List<ImageMetrics> members) {
    MetricSummary s = MetricSummary.over(members);
    return new SizeBin(label, range, s.images(), s.dice(), s.iou(), s.tp(), s.fp(), s.fn());
  }

  /**
   * Marks every pixel within {@code band} px (Euclidean) of a ground-truth edge. Edge pixels are
   * those with a 4-neighbour of the other class, on both sides of the contour, so the band is
   * symmetric; the image border is not an edge. An empty (or full) mask has no edge.
   */
  static boolean[] nearBoundary(BinaryMask gt, int band) {
    int w = gt.width();
    int h = gt.height();
    boolean[] near = new boolean[w * h];
    int r2 = band * band;
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        if (!isEdge(gt, x, y)) {
          continue;
        }
        for (int dy = -band; dy <= band; dy++) {
          int yy = y + dy;
          if (yy < 0 || yy >= h) {
            continue;
          }
          for (int dx = -band; dx <= band; dx++) {
            int xx = x + dx;
            if (xx >= 0 && xx < w && dx * dx + dy * dy <= r2) {
              near[yy * w + xx] = true;
            }
          }
        }
      }
    }
    return near;
  }

  private static boolean isEdge(BinaryMask m, int x, int y) {
    boolean v = m.get(x, y);
    return (x > 0 && m.get(x - 1, y) != v)
        || (x + 1 < m.width() && m.get(x + 1, y) != v)
        || (y > 0 && m.get(x, y - 1) != v)
        || (y + 1 < m.height() && m.get(x, y + 1) != v);
  }

  private static String percent(double fraction) {
    return String.format("%.0f %%", fraction * 100);
  }
}
