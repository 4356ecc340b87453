//! Line plots of metrics against steps, drawn with `plotters` as PNG (bitmap backend) and SVG: the same plot in
//! both (title, axes with tick values, axis labels, legend, one line per series). Text is set in DejaVu Sans,
//! shipped in `assets/` (with its licence) and registered once as the `sans-serif` family, so the PNG needs no
//! system font.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Result, TrainError};

/// Width and height in pixels.
pub const SIZE: (u32, u32) = (640, 400);
const FAMILY: &str = "sans-serif";
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const COLORS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

/// A named series of `(step, value)` points.
pub type Series<'a> = (&'a str, &'a [(f64, f64)]);

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_err() {
            tracing::warn!("the bundled plot font could not be read; plots will lack text");
        }
    });
}

/// The finite points of a series.
fn finite(pts: &[(f64, f64)]) -> impl Iterator<Item = (f64, f64)> + '_ {
    pts.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite())
}

/// The x and y ranges of all finite points, widened so that neither is empty and the curves do not touch the
/// frame; `None` without points.
fn ranges(series: &[Series]) -> Option<((f64, f64), (f64, f64))> {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in series.iter().flat_map(|(_, s)| finite(s)) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return None;
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-12 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    let pad = (y1 - y0) * 0.05;
    Some(((x0, x1), (y0 - pad, y1 + pad)))
}

/// A tick value with as many decimals as a span of `span` needs (steps print as integers).
fn tick(v: f64, span: f64) -> String {
    let decimals = if span >= 20.0 { 0 } else { (2.0 - span.log10().floor()).clamp(1.0, 7.0) as usize - 1 };
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') { s[1..].to_string() } else { s }
}

/// Draws the plot on any plotters backend.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    ylabel: &str,
    series: &[Series],
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let area = root.titled(title, (FAMILY, 20).into_font().color(&BLACK))?;
    let Some(((x0, x1), (y0, y1))) = ranges(series) else {
        let (w, h) = area.dim_in_pixel();
        let style = (FAMILY, 16).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
        area.draw(&Text::new("no data yet", (w as i32 / 2, h as i32 / 2), style))?;
        return root.present();
    };
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(ylabel)
        .x_label_formatter(&|x| tick(*x, x1 - x0))
        .y_label_formatter(&|y| tick(*y, y1 - y0))
        .label_style((FAMILY, 13).into_font().color(&BLACK))
        .axis_desc_style((FAMILY, 15).into_font().color(&BLACK))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(221, 221, 221))
        .draw()?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(finite(pts), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        if finite(pts).count() == 1 {
            chart.draw_series(finite(pts).map(|p| Circle::new(p, 3, color.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(136, 136, 136))
        .label_font((FAMILY, 13).into_font().color(&BLACK))
        .draw()?;
    root.present()
}

/// The plot as an SVG document.
pub fn svg(title: &str, ylabel: &str, series: &[Series]) -> Result<String> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&root, title, ylabel, series).map_err(|e| TrainError::Invalid(format!("plot {title:?} (SVG): {e}")))?;
    }
    Ok(out)
}

/// The plot as RGB pixels, `SIZE.0 * SIZE.1 * 3` bytes, row by row.
pub fn raster(title: &str, ylabel: &str, series: &[Series]) -> Result<Vec<u8>> {
    register_font();
    let mut rgb = vec![255u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        draw(&root, title, ylabel, series).map_err(|e| TrainError::Invalid(format!("plot {title:?} (PNG): {e}")))?;
    }
    Ok(rgb)
}

/// The plot as a PNG file's bytes.
pub fn png(title: &str, ylabel: &str, series: &[Series]) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let rgb = raster(title, ylabel, series)?;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&rgb, SIZE.0, SIZE.1, image::ColorType::Rgb8)
        .map_err(|e| TrainError::Invalid(format!("plot {title:?}: PNG encoding: {e}")))?;
    Ok(out)
}

/// Writes `<stem>.svg` and `<stem>.png` under `dir` (each atomically).
pub fn write_plot(dir: &Path, stem: &str, title: &str, ylabel: &str, series: &[Series]) -> Result<()> {
    for (ext, bytes) in [("svg", svg(title, ylabel, series)?.into_bytes()), ("png", png(title, ylabel, series)?)] {
        let path = dir.join(format!("{stem}.{ext}"));
        srl_core::fs::write_atomic(&path, &bytes).map_err(|e| TrainError::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PTS: [(f64, f64); 3] = [(10.0, -1.0), (20.0, 0.2), (30.0, 0.5)];

    #[test]
    fn svg_has_the_texts_and_the_curves() {
        let s = svg("GRPO rollout reward", "mean reward", &[("train", &PTS), ("format", &PTS[..1])]).unwrap();
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"), "{s}");
        let texts: Vec<&str> = s
            .split("<text")
            .skip(1)
            .filter_map(|t| t.split_once('>')?.1.split_once("</text>").map(|(inner, _)| inner.trim()))
            .collect();
        for text in ["GRPO rollout reward", "mean reward", "step", "train", "format", "20", "0.0"] {
            assert!(texts.contains(&text), "{text} missing from {texts:?}");
        }
        assert!(s.contains("<polyline"), "no curve");
        assert!(svg("x", "y", &[("a", &[])]).unwrap().contains("no data yet"));
    }

    #[test]
    fn png_has_ink_where_the_text_is() {
        let p = png("GRPO", "y", &[("a", &[(0.0, 0.0), (1.0, 1.0)])]).unwrap();
        assert_eq!(&p[..8], &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]);
        let img = raster("GRPO", "y", &[("a", &[(0.0, 0.0), (1.0, 1.0)])]).unwrap();
        let (w, h) = (SIZE.0 as usize, SIZE.1 as usize);
        let dark = |x0: usize, y0: usize, x1: usize, y1: usize| {
            (y0..y1).any(|y| (x0..x1).any(|x| img[(y * w + x) * 3..(y * w + x) * 3 + 3].iter().all(|&c| c < 100)))
        };
        assert!(dark(w / 2 - 40, 0, w / 2 + 40, 28), "title");
        assert!(dark(0, 40, 70, h - 50), "y ticks and label");
        assert!(dark(70, h - 50, w, h), "x ticks and label");
        let empty = raster("t", "y", &[("a", &[])]).unwrap();
        assert!(empty.chunks(3).filter(|p| p.iter().all(|&c| c < 100)).count() > 20, "no data text");
    }

    #[test]
    fn writes_both_files() {
        let d = tempfile::tempdir().unwrap();
        write_plot(&d.path().join("plots"), "loss", "Loss", "loss", &[("SFT loss", &PTS)]).unwrap();
        for f in ["loss.png", "loss.svg"] {
            assert!(std::fs::metadata(d.path().join("plots").join(f)).unwrap().len() > 1000, "{f}");
        }
    }
}
