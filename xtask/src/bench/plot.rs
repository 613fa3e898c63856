//! The report's PNG plots, drawn with plotters: grouped horizontal bars (one group per
//! command or case), lines over a logarithmic x axis (growth, connections), and latency
//! distributions on a "nines" axis (50, 90, 99, 99.9 … evenly spaced).

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const SIZE: (u32, u32) = (1000, 640);
/// One color per series, ours first.
const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plotting: {e:?}")
}

/// A named series of values.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// Grouped horizontal bars: one row per category (top to bottom), one bar per series
/// (`values[series][category]`; NaN draws nothing).
pub fn bars(
    path: &Path,
    title: &str,
    x_label: &str,
    categories: &[String],
    series: &[(&str, Vec<f64>)],
) -> Result<()> {
    let n = categories.len();
    let k = series.len().max(1);
    let height = (140 + (n * k) as u32 * 16).max(SIZE.1 / 2);
    let root = BitMapBackend::new(path, (SIZE.0, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(170)
        .build_cartesian_2d(0.0..max * 1.08, 0.0..n as f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(x_label)
        .x_label_formatter(&|x| human(*x))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    // Row i (from the top) spans y in [n-1-i, n-i); series slices split 80 % of it.
    let h = 0.8 / k as f64;
    for (s, (name, values)) in series.iter().enumerate() {
        let color = COLORS[s % COLORS.len()];
        chart
            .draw_series(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, v)| {
                        let top = (n - i) as f64 - 0.1 - s as f64 * h;
                        Rectangle::new([(0.0, top - h), (*v, top)], color.filled())
                    }),
            )
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
    }
    // Category names, drawn beside their rows (a numeric axis has no such labels).
    let style =
        TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, name) in categories.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(0.0, (n - i) as f64 - 0.5));
        root.draw(&Text::new(name.clone(), (x - 8, y), style.clone()))
            .map_err(err)?;
    }
    finish(&root, &mut chart, SeriesLabelPosition::LowerRight)
}

/// Lines with points over a logarithmic x axis (sizes, connection counts). The y axis is
/// logarithmic too when the values span a decade or more (RSS, load times from 10^4 to 10^7
/// keys), else linear from zero.
pub fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let points = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.1.is_finite())
    };
    let x_min = points().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x_max = points().map(|p| p.0).fold(0.0, f64::max);
    let y_min = points().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let y_max = points().map(|p| p.1).fold(0.0, f64::max).max(1e-9);
    // Ticks at the measured x values (a log axis over 16..256 has no power of ten to mark).
    let mut x_ticks: Vec<f64> = points().map(|p| p.0).collect();
    x_ticks.sort_by(f64::total_cmp);
    x_ticks.dedup();
    let (x_min, x_max) = if x_min.is_finite() && x_max > x_min {
        (x_min / 1.3, x_max * 1.3)
    } else {
        (1.0, 10.0)
    };
    let x_axis = (x_min..x_max).log_scale().with_key_points(x_ticks);
    // Where each point sits on the plot, from 0 to 1 on both axes, to keep the legend off it.
    let log_y = y_min > 0.0 && y_max / y_min >= 10.0;
    let (y_lo, y_hi) = if log_y {
        (y_min / 1.3, y_max * 1.3)
    } else {
        (0.0, y_max * 1.1)
    };
    let unit = |v: f64, lo: f64, hi: f64, log: bool| {
        if log {
            (v.ln() - lo.ln()) / (hi.ln() - lo.ln())
        } else {
            (v - lo) / (hi - lo)
        }
    };
    let placed: Vec<(f64, f64)> = points()
        .map(|p| (unit(p.0, x_min, x_max, true), unit(p.1, y_lo, y_hi, log_y)))
        .collect();
    let legend = legend_corner(&placed);
    // The same drawing on either y axis (their coordinate types differ).
    macro_rules! draw {
        ($y_axis:expr) => {{
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(45)
                .y_label_area_size(80)
                .build_cartesian_2d(x_axis, $y_axis)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .x_label_formatter(&|x| human(*x))
                .y_label_formatter(&|y| human(*y))
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(err)?;
            for (i, s) in series.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                let pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .copied()
                    .filter(|p| p.1.is_finite())
                    .collect();
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                    .map_err(err)?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))
                    .map_err(err)?;
            }
            finish(&root, &mut chart, legend)
        }};
    }
    if log_y {
        draw!((y_lo..y_hi)
            .log_scale()
            .with_key_points(log_ticks(y_lo, y_hi)))
    } else {
        draw!(y_lo..y_hi)
    }
}

/// The corner of the plot with the fewest points near it (`points` scaled to 0..1 on both
/// axes), for the legend.
fn legend_corner(points: &[(f64, f64)]) -> SeriesLabelPosition {
    let corners = [
        (SeriesLabelPosition::UpperLeft, 0.0, 1.0),
        (SeriesLabelPosition::UpperRight, 1.0, 1.0),
        (SeriesLabelPosition::LowerRight, 1.0, 0.0),
        (SeriesLabelPosition::LowerLeft, 0.0, 0.0),
    ];
    let near = |cx: f64, cy: f64| {
        points
            .iter()
            .filter(|(x, y)| (x - cx).abs() < 0.4 && (y - cy).abs() < 0.35)
            .count()
    };
    corners
        .into_iter()
        .min_by_key(|(_, cx, cy)| near(*cx, *cy))
        .map_or(SeriesLabelPosition::UpperLeft, |c| c.0)
}

/// Ticks for a logarithmic axis over `lo..hi`: 1, 2 and 5 times each power of ten.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let t = decade * m;
            if t >= lo && t <= hi {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks
}

/// Latency (ms, log scale) by percentile, the percentile axis in "nines": x = -log10(1 - p),
/// so 90, 99, 99.9 and 99.99 are evenly spaced. `series` points are (percentile, ms).
pub fn latency(path: &Path, title: &str, series: &[Series]) -> Result<()> {
    let nines = |p: f64| -(1.0 - (p / 100.0).min(0.9999)).log10();
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let ms = || {
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .filter(|v| v.is_finite() && *v > 0.0)
    };
    let y_min = ms().fold(f64::INFINITY, f64::min);
    let y_max = ms().fold(0.0, f64::max);
    let (y_min, y_max) = if y_min.is_finite() && y_max > y_min {
        (y_min / 1.5, y_max * 1.5)
    } else {
        (0.01, 10.0)
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        // Room for the last label, "p99.99", right of the plot.
        .margin_right(40)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(
            0.0..4.0,
            (y_min..y_max)
                .log_scale()
                .with_key_points(log_ticks(y_min, y_max)),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_labels(5)
        .x_label_formatter(&|x| {
            let p = 100.0 * (1.0 - 10f64.powf(-x));
            format!("p{}", (p * 100.0).round() / 100.0)
        })
        .y_label_formatter(&|y| human(*y))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|(p, v)| *p < 100.0 && *v > 0.0 && v.is_finite())
            .map(|(p, v)| (nines(*p), *v))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(err)?
            .label(s.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    finish(&root, &mut chart, SeriesLabelPosition::UpperLeft)
}

/// Draws the legend at `position` and writes the file.
fn finish<'a, CT: CoordTranslate>(
    root: &DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>,
    chart: &mut ChartContext<'a, BitMapBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// An axis label: 1234567 → "1.23M", 45000 → "45k", 4500 → "4.5k", 0.05 → "0.05". Three
/// significant digits at most, trailing zeros dropped, so neighbouring ticks never read the
/// same.
pub fn human(x: f64) -> String {
    let a = x.abs();
    let (v, suffix) = if a >= 1e9 {
        (x / 1e9, "G")
    } else if a >= 1e6 {
        (x / 1e6, "M")
    } else if a >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    let magnitude = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    let decimals = (2 - magnitude).max(0) as usize;
    let mut text = format!("{v:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    text + suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_three_significant_digits() {
        let cases = [
            (0.0, "0"),
            (0.05, "0.05"),
            (0.5, "0.5"),
            (2.0, "2"),
            (12.17, "12.2"),
            (500.0, "500"),
            (1000.0, "1k"),
            (3500.0, "3.5k"),
            (4507.0, "4.51k"),
            (45000.0, "45k"),
            (1234567.0, "1.23M"),
            (10_000_000.0, "10M"),
        ];
        for (x, label) in cases {
            assert_eq!(human(x), label, "{x}");
        }
    }

    /// The ticks an axis over the growth report's RSS values (MiB) gets: every label differs.
    #[test]
    fn rss_axis_labels_differ() {
        let linear: Vec<String> = (0..=9).map(|i| human(f64::from(i) * 500.0)).collect();
        let log: Vec<String> = log_ticks(10.0, 5000.0).into_iter().map(human).collect();
        assert_eq!(
            log,
            ["10", "20", "50", "100", "200", "500", "1k", "2k", "5k"]
        );
        for labels in [linear, log] {
            let mut unique = labels.clone();
            unique.dedup();
            assert_eq!(unique, labels);
        }
    }

    #[test]
    fn log_ticks_cover_only_the_range() {
        assert_eq!(log_ticks(0.03, 0.6), [0.05, 0.1, 0.2, 0.5]);
        assert!(log_ticks(3.0, 4.0).is_empty());
    }
}
