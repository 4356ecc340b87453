//! Line plots of metrics against steps, as SVG (axes, ticks and labels) and PNG (the same curve without text;
//! written with a dependency-free encoder: stored deflate blocks, CRC-32, Adler-32).

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
    for i in 0..=4 {
        let y = f.y0 + (f.y1 - f.y0) * i as f64 / 4.0;
        let x = f.x0 + (f.x1 - f.x0) * i as f64 / 4.0;
        s.push_str(&format!(
            "<line x1=\"{l}\" x2=\"{r}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n\
             <text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            l - 4.0,
            f.py(y) + 4.0,
            fmt_tick(y),
            b + 16.0,
            fmt_tick(x),
            py = f.py(y),
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

fn fmt_tick(v: f64) -> String {
    if v.abs() >= 1000.0 || (v != 0.0 && v.abs() < 0.01) { format!("{v:.2e}") } else { format!("{v:.2}") }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The same plot as an RGB raster (frame, grid and curves; no text).
pub fn raster(series: &[(&str, &[(f64, f64)])]) -> Vec<u8> {
    let mut img = vec![255u8; W * H * 3];
    let Some(f) = Frame::new(series) else { return img };
    let (l, r, t, b) = (ML, W as f64 - MR, MT, H as f64 - MB);
    for i in 1..4 {
        let y = t + (b - t) * i as f64 / 4.0;
        line(&mut img, (l, y), (r, y), [221, 221, 221]);
    }
    for (a, c) in [((l, t), (r, t)), ((r, t), (r, b)), ((r, b), (l, b)), ((l, b), (l, t))] {
        line(&mut img, a, c, [68, 68, 68]);
    }
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
    img
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
    crate::checkpoint::write_atomic(&dir.join(format!("{stem}.png")), &png(&raster(series), W, H))?;
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
        let p = png(&raster(&[("train", &pts)]), W, H);
        assert_eq!(&p[..8], &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]);
        assert!(p.len() > W * H * 3);
    }
}
