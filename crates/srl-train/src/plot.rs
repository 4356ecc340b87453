//! Line plots of metrics against steps, as SVG and PNG (the same plot: title, frame, grid, tick values, axis labels,
//! legend, curves). The PNG is drawn with a built-in 5x7 pixel font and written with a dependency-free encoder
//! (stored deflate blocks, CRC-32, Adler-32).

use std::path::Path;

use crate::error::{Result, TrainError};

const W: usize = 640;
const H: usize = 400;
const ML: f64 = 60.0;
const MR: f64 = 20.0;
const MT: f64 = 30.0;
const MB: f64 = 40.0;

struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    fn new(series: &[(&str, &[(f64, f64)])]) -> Option<Frame> {
        let pts: Vec<(f64, f64)> = series
            .iter()
            .flat_map(|(_, s)| s.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        if pts.is_empty() {
            return None;
        }
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (x, y) in pts {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x1 - x0 < 1e-12 {
            x1 = x0 + 1.0;
        }
        if y1 - y0 < 1e-12 {
            y0 -= 0.5;
            y1 += 0.5;
        }
        let pad = (y1 - y0) * 0.05;
        Some(Frame { x0, x1, y0: y0 - pad, y1: y1 + pad })
    }
    fn px(&self, x: f64) -> f64 {
        ML + (x - self.x0) / (self.x1 - self.x0) * (W as f64 - ML - MR)
    }
    fn py(&self, y: f64) -> f64 {
        H as f64 - MB - (y - self.y0) / (self.y1 - self.y0) * (H as f64 - MT - MB)
    }
}

const COLORS: [(&str, [u8; 3]); 4] =
    [("#1f77b4", [31, 119, 180]), ("#d62728", [214, 39, 40]), ("#2ca02c", [44, 160, 44]), ("#9467bd", [148, 103, 189])];

/// An SVG line plot of one or more `(name, points)` series.
pub fn svg(title: &str, ylabel: &str, series: &[(&str, &[(f64, f64)])]) -> String {
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n",
        W / 2,
        esc(title)
    );
    let Some(f) = Frame::new(series) else {
        s.push_str("<text x=\"320\" y=\"200\" text-anchor=\"middle\">no data yet</text>\n</svg>\n");
        return s;
    };
    let (l, r, t, b) = (ML, W as f64 - MR, MT, H as f64 - MB);
    s.push_str(&format!(
        "<rect x=\"{l}\" y=\"{t}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n",
        r - l,
        b - t
    ));
    let (ys, ystep) = nice_ticks(f.y0, f.y1);
    for y in ys {
        s.push_str(&format!(
            "<line x1=\"{l}\" x2=\"{r}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            l - 4.0,
            f.py(y) + 4.0,
            fmt_tick(y, ystep),
            py = f.py(y),
        ));
    }
    let (xs, xstep) = nice_ticks(f.x0, f.x1);
    for x in xs {
        s.push_str(&format!(
            "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{b}\" y2=\"{}\" stroke=\"#444\"/>\
             <text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            b + 3.0,
            b + 16.0,
            fmt_tick(x, xstep),
            px = f.px(x),
        ));
    }
    s.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step</text>\n\
         <text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">{}</text>\n",
        (l + r) / 2.0,
        H as f64 - 6.0,
        (t + b) / 2.0,
        (t + b) / 2.0,
        esc(ylabel)
    ));
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()].0;
        let d: Vec<String> = pts
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", f.px(x), f.py(y)))
            .collect();
        s.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\n",
            d.join(" ")
        ));
        if pts.len() == 1 {
            s.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>\n",
                f.px(pts[0].0),
                f.py(pts[0].1)
            ));
        }
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" fill=\"{color}\" text-anchor=\"end\">{}</text>\n",
            r - 6.0,
            t + 16.0 + 14.0 * i as f64,
            esc(name)
        ));
    }
    s.push_str("</svg>\n");
    s
}

/// Round tick values inside `[lo, hi]`, 1, 2 or 5 times a power of ten apart (three to six of them), and the spacing.
pub fn nice_ticks(lo: f64, hi: f64) -> (Vec<f64>, f64) {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return (vec![lo], 1.0);
    }
    let raw = span / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let mut out = Vec::new();
    let mut k = (lo / step).ceil();
    while k * step <= hi + step * 1e-9 && out.len() < 20 {
        // Snap to the grid so that 0.30000000000000004 prints as 0.3.
        let v = k * step;
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        k += 1.0;
    }
    (out, step)
}

/// A tick value with as many decimals as its spacing needs.
fn fmt_tick(v: f64, step: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-4) {
        return format!("{v:.1e}");
    }
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
    format!("{v:.decimals$}")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

const INK: [u8; 3] = [0, 0, 0];

/// The same plot as an RGB raster: title, frame, grid, tick values, axis labels, legend and curves.
pub fn raster(title: &str, ylabel: &str, series: &[(&str, &[(f64, f64)])]) -> Vec<u8> {
    let mut img = vec![255u8; W * H * 3];
    text(&mut img, title, W as f64 / 2.0, 8.0, Align::Middle, 2, INK);
    let Some(f) = Frame::new(series) else {
        text(&mut img, "no data yet", W as f64 / 2.0, H as f64 / 2.0, Align::Middle, 1, INK);
        return img;
    };
    let (l, r, t, b) = (ML, W as f64 - MR, MT, H as f64 - MB);
    for (a, c) in [((l, t), (r, t)), ((r, t), (r, b)), ((r, b), (l, b)), ((l, b), (l, t))] {
        line(&mut img, a, c, [68, 68, 68]);
    }
    let (ys, ystep) = nice_ticks(f.y0, f.y1);
    for y in ys {
        line(&mut img, (l, f.py(y)), (r, f.py(y)), [221, 221, 221]);
        text(&mut img, &fmt_tick(y, ystep), l - 5.0, f.py(y) - 3.0, Align::End, 1, INK);
    }
    let (xs, xstep) = nice_ticks(f.x0, f.x1);
    for x in xs {
        text(&mut img, &fmt_tick(x, xstep), f.px(x), b + 6.0, Align::Middle, 1, INK);
        line(&mut img, (f.px(x), b), (f.px(x), b + 3.0), [68, 68, 68]);
    }
    text(&mut img, "step", (l + r) / 2.0, H as f64 - 14.0, Align::Middle, 1, INK);
    text_up(&mut img, ylabel, 8.0, (t + b) / 2.0, INK);
    for (i, (_, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()].1;
        let p: Vec<(f64, f64)> =
            pts.iter().filter(|(x, y)| x.is_finite() && y.is_finite()).map(|&(x, y)| (f.px(x), f.py(y))).collect();
        for w in p.windows(2) {
            for d in [-0.5, 0.0, 0.5] {
                line(&mut img, (w[0].0, w[0].1 + d), (w[1].0, w[1].1 + d), color);
            }
        }
        if p.len() == 1 {
            line(&mut img, (p[0].0 - 2.0, p[0].1), (p[0].0 + 2.0, p[0].1), color);
        }
    }
    // The legend last, on a white box, so that curves never hide it.
    let names: Vec<&str> = series.iter().map(|s| s.0).collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0) as f64 * 6.0 + 24.0;
    let (x1, y0) = (r - 4.0, t + 4.0);
    fill(&mut img, (x1 - width - 4.0, y0), (x1 + 2.0, y0 + 12.0 * names.len() as f64 + 2.0), [255, 255, 255]);
    for (i, name) in names.iter().enumerate() {
        let color = COLORS[i % COLORS.len()].1;
        let y = y0 + 3.0 + 12.0 * i as f64;
        text(&mut img, name, x1, y, Align::End, 1, color);
        let lx = x1 - name.chars().count() as f64 * 6.0 - 20.0;
        for d in [3.0, 4.0] {
            line(&mut img, (lx, y + d), (lx + 14.0, y + d), color);
        }
    }
    img
}

#[derive(Clone, Copy)]
enum Align {
    Middle,
    End,
}

/// 5x7 glyphs, one byte a row (bit 4 = leftmost column). Characters without a glyph draw a box.
#[rustfmt::skip]
const GLYPHS: [(char, [u8; 7]); 73] = [
    ('0', [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e]), ('1', [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e]),
    ('2', [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f]), ('3', [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e]),
    ('4', [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02]), ('5', [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e]),
    ('6', [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e]), ('7', [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08]),
    ('8', [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e]), ('9', [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c]),
    ('.', [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c]), ('-', [0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00]),
    ('+', [0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00]), ('(', [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02]),
    (')', [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08]), ('%', [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03]),
    (':', [0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00]), ('/', [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00]),
    ('_', [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f]), (',', [0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08]),
    ('=', [0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00]), ('a', [0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f]),
    ('b', [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e]), ('c', [0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e]),
    ('d', [0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f]), ('e', [0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e]),
    ('f', [0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08]), ('g', [0x00, 0x00, 0x0f, 0x11, 0x0f, 0x01, 0x0e]),
    ('h', [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11]), ('i', [0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e]),
    ('j', [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0c]), ('k', [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12]),
    ('l', [0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e]), ('m', [0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11]),
    ('n', [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11]), ('o', [0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e]),
    ('p', [0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10]), ('q', [0x00, 0x00, 0x0d, 0x13, 0x0f, 0x01, 0x01]),
    ('r', [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10]), ('s', [0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e]),
    ('t', [0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06]), ('u', [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d]),
    ('v', [0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04]), ('w', [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a]),
    ('x', [0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11]), ('y', [0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e]),
    ('z', [0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f]), ('A', [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11]),
    ('B', [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e]), ('C', [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e]),
    ('D', [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c]), ('E', [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f]),
    ('F', [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10]), ('G', [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f]),
    ('H', [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11]), ('I', [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e]),
    ('J', [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c]), ('K', [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11]),
    ('L', [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f]), ('M', [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11]),
    ('N', [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11]), ('O', [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e]),
    ('P', [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10]), ('Q', [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d]),
    ('R', [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11]), ('S', [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e]),
    ('T', [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04]), ('U', [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e]),
    ('V', [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04]), ('W', [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a]),
    ('X', [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11]), ('Y', [0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04]),
    ('Z', [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f]),
];

fn glyph(c: char) -> [u8; 7] {
    GLYPHS.iter().find(|g| g.0 == c).map(|g| g.1).unwrap_or(if c == ' ' {
        [0; 7]
    } else {
        [0x1f, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1f]
    })
}

/// Draws `s` with its top at `y`, anchored at `x` by `align`, each glyph pixel `scale` pixels wide.
fn text(img: &mut [u8], s: &str, x: f64, y: f64, align: Align, scale: usize, c: [u8; 3]) {
    let adv = 6 * scale;
    let w = (s.chars().count() * adv).saturating_sub(scale) as f64;
    let x0 = match align {
        Align::Middle => x - w / 2.0,
        Align::End => x - w,
    }
    .round() as i64;
    let y0 = y.round() as i64;
    for (k, ch) in s.chars().enumerate() {
        let g = glyph(ch);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let px = x0 + (k * adv + col * scale + dx) as i64;
                            set(img, px, y0 + (row * scale + dy) as i64, c);
                        }
                    }
                }
            }
        }
    }
}

/// Draws `s` reading upwards (rotated a quarter turn), centred vertically on `y`, its glyph tops at `x`.
fn text_up(img: &mut [u8], s: &str, x: f64, y: f64, c: [u8; 3]) {
    let w = (s.chars().count() * 6).saturating_sub(1) as i64;
    let bottom = (y + w as f64 / 2.0).round() as i64;
    let x0 = x.round() as i64;
    for (k, ch) in s.chars().enumerate() {
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    set(img, x0 + row as i64, bottom - (k * 6 + col) as i64, c);
                }
            }
        }
    }
}

fn set(img: &mut [u8], x: i64, y: i64, c: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as usize) < W && (y as usize) < H {
        let o = (y as usize * W + x as usize) * 3;
        img[o..o + 3].copy_from_slice(&c);
    }
}

fn fill(img: &mut [u8], a: (f64, f64), b: (f64, f64), c: [u8; 3]) {
    for y in a.1.round() as i64..b.1.round() as i64 {
        for x in a.0.round() as i64..b.0.round() as i64 {
            set(img, x, y, c);
        }
    }
}

fn line(img: &mut [u8], a: (f64, f64), b: (f64, f64), c: [u8; 3]) {
    let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    for i in 0..=n {
        let s = i as f64 / n as f64;
        let x = (a.0 + (b.0 - a.0) * s).round();
        let y = (a.1 + (b.1 - a.1) * s).round();
        if x >= 0.0 && y >= 0.0 && (x as usize) < W && (y as usize) < H {
            let o = (y as usize * W + x as usize) * 3;
            img[o..o + 3].copy_from_slice(&c);
        }
    }
}

/// Encodes an RGB8 image as PNG (uncompressed deflate).
pub fn png(rgb: &[u8], width: usize, height: usize) -> Vec<u8> {
    let mut raw = Vec::with_capacity((width * 3 + 1) * height);
    for row in rgb.chunks(width * 3) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    let mut z = vec![0x78, 0x01];
    let mut chunks = raw.chunks(65535).peekable();
    while let Some(c) = chunks.next() {
        z.push(if chunks.peek().is_none() { 1 } else { 0 });
        let len = c.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(c);
    }
    if raw.is_empty() {
        z.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&(width as u32).to_be_bytes());
    ihdr.extend_from_slice(&(height as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// Writes `<stem>.svg` and `<stem>.png` under `dir` (each atomically).
pub fn write_plot(dir: &Path, stem: &str, title: &str, ylabel: &str, series: &[(&str, &[(f64, f64)])]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    crate::checkpoint::write_atomic(&dir.join(format!("{stem}.svg")), svg(title, ylabel, series).as_bytes())?;
    crate::checkpoint::write_atomic(&dir.join(format!("{stem}.png")), &png(&raster(title, ylabel, series), W, H))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_and_adler_known_values() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn plots_render() {
        let pts = [(1.0, -1.0), (2.0, 0.2), (3.0, 0.5)];
        let s = svg("reward", "mean reward", &[("train", &pts)]);
        assert!(s.starts_with("<svg") && s.contains("polyline") && s.ends_with("</svg>\n"));
        assert!(svg("x", "y", &[("a", &[])]).contains("no data"));
        let p = png(&raster("reward", "mean reward", &[("train", &pts)]), W, H);
        assert_eq!(&p[..8], &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]);
        assert!(p.len() > W * H * 3);
    }

    #[test]
    fn ticks_are_round() {
        let (t, s) = nice_ticks(1.0, 200.0);
        assert_eq!((t, s), (vec![50.0, 100.0, 150.0, 200.0], 50.0));
        let (t, s) = nice_ticks(-1.05, 0.35);
        assert_eq!(s, 0.5);
        assert_eq!(t, vec![-1.0, -0.5, 0.0]);
        let (t, s) = nice_ticks(0.0, 1.0);
        assert_eq!((t.len(), s), (6, 0.2));
        assert_eq!(fmt_tick(t[3], s), "0.6");
        assert_eq!(fmt_tick(150.0, 50.0), "150");
        assert_eq!(fmt_tick(-0.25, 0.05), "-0.25");
    }

    #[test]
    fn raster_has_text() {
        // The title's pixels are ink; an empty plot says so.
        let img = raster("GRPO", "y", &[("a", &[(0.0, 0.0), (1.0, 1.0)])]);
        let ink = |x0: usize, y0: usize, x1: usize, y1: usize| {
            (y0..y1).any(|y| (x0..x1).any(|x| img[(y * W + x) * 3..(y * W + x) * 3 + 3] == INK))
        };
        assert!(ink(W / 2 - 30, 8, W / 2 + 30, 22), "title");
        assert!(ink(0, MT as usize, ML as usize - 4, H - MB as usize), "y ticks and label");
        assert!(ink(ML as usize, H - MB as usize + 5, W, H), "x ticks and label");
        assert_eq!(glyph('0'), [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e]);
        let empty = raster("t", "y", &[("a", &[])]);
        assert!(empty.chunks(3).filter(|p| *p == INK).count() > 20);
    }
}
