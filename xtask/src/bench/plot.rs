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

/// Lines with points over a logarithmic x axis (sizes, connection counts).
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
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x_min..x_max).log_scale().with_key_points(x_ticks),
            0.0..y_max * 1.1,
        )
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
    finish(&root, &mut chart, SeriesLabelPosition::UpperRight)
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
        .build_cartesian_2d(0.0..4.0, (y_min..y_max).log_scale())
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
        .y_label_formatter(&|y| format!("{y}"))
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

/// 1234567 → "1.2M", 45000 → "45k", 0.5 → "0.5".
pub fn human(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("{:.1}G", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e3 {
        format!("{:.0}k", x / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}
